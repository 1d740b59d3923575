/* readfile: regular files only, never past the cap, never waiting on a FIFO. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "resolver/readfile.h"

static char dir[] = "/tmp/test_readfile_XXXXXX";

static const char *in_dir(const char *name)
{
	static char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static int read_path(const char *path, size_t max, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	return readfile(path, max, text, len, NULL);
}

static void test_regular_file(void)
{
	char *text;
	size_t len;
	int64_t mtime = 0;
	FILE *f = fopen(in_dir("a"), "w");
	CHECK(f);
	fputs("hello\n", f);
	fclose(f);
	CHECK_INT_EQ(readfile(in_dir("a"), 6, &text, &len, &mtime), 0);
	CHECK_INT_EQ(len, 6);
	CHECK_STR_EQ(text, "hello\n");
	CHECK(mtime > 0);
	free(text);
	CHECK_INT_EQ(read_path(in_dir("a"), 5, &text, &len), -EFBIG); /* one byte over */
	CHECK(!text);
	f = fopen(in_dir("empty"), "w");
	CHECK(f);
	fclose(f);
	CHECK_INT_EQ(read_path(in_dir("empty"), 5, &text, &len), 0);
	CHECK_INT_EQ(len, 0);
	CHECK_STR_EQ(text, "");
	free(text);
}

static void test_not_regular(void)
{
	char *text;
	size_t len;
	CHECK_INT_EQ(read_path(dir, READFILE_MAX_SIZE, &text, &len), -EISDIR);
	CHECK_INT_EQ(read_path("/dev/zero", READFILE_MAX_SIZE, &text, &len), -EINVAL);
	CHECK(symlink("/dev/zero", in_dir("zero")) == 0);
	CHECK_INT_EQ(read_path(in_dir("zero"), READFILE_MAX_SIZE, &text, &len), -EINVAL);
	CHECK(mkfifo(in_dir("fifo"), 0600) == 0); /* no writer: a blocking open would hang */
	CHECK_INT_EQ(read_path(in_dir("fifo"), READFILE_MAX_SIZE, &text, &len), -EINVAL);
	CHECK_INT_EQ(read_path(in_dir("missing"), READFILE_MAX_SIZE, &text, &len), -ENOENT);
	CHECK(!text);
	CHECK_STR_EQ(readfile_strerror(-EINVAL), "not a regular file");
}

int main(void)
{
	CHECK(mkdtemp(dir));
	test_regular_file();
	test_not_regular();
	const char *names[] = {"a", "empty", "zero", "fifo"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(in_dir(names[i]));
	rmdir(dir);
	return 0;
}
