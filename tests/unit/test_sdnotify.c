/* The sd_notify address and watchdog settings as the service manager passes them. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "check.h"
#include "resolver/sdnotify.h"

static void test_addresses(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	char longest[sizeof(sa.sun_path) + 1];

	CHECK_INT_EQ(sdnotify_addr("/run/systemd/notify", &sa, &len), 0);
	CHECK_STR_EQ(sa.sun_path, "/run/systemd/notify");
	CHECK_INT_EQ(len,
		     offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
	/* Abstract: a leading NUL and no terminator counted. */
	CHECK_INT_EQ(sdnotify_addr("@sd-notify", &sa, &len), 0);
	CHECK(sa.sun_path[0] == '\0' && memcmp(sa.sun_path + 1, "sd-notify", 9) == 0);
	CHECK_INT_EQ(len, offsetof(struct sockaddr_un, sun_path) + 10);

	CHECK_INT_EQ(sdnotify_addr(NULL, &sa, &len), -EINVAL);
	CHECK_INT_EQ(sdnotify_addr("", &sa, &len), -EINVAL);
	CHECK_INT_EQ(sdnotify_addr("@", &sa, &len), -EINVAL);
	CHECK_INT_EQ(sdnotify_addr("relative/notify", &sa, &len), -EINVAL);
	memset(longest, 'a', sizeof(longest) - 1);
	longest[0] = '/';
	longest[sizeof(longest) - 1] = '\0';
	CHECK_INT_EQ(sdnotify_addr(longest, &sa, &len), -EINVAL); /* no room for the NUL */
	longest[sizeof(longest) - 2] = '\0';
	CHECK_INT_EQ(sdnotify_addr(longest, &sa, &len), 0);
}

static void test_watchdog(void)
{
	CHECK_INT_EQ(sdnotify_watchdog_usec("30000000", NULL, 42), 30000000);
	CHECK_INT_EQ(sdnotify_watchdog_usec("30000000", "42", 42), 30000000);
	CHECK_INT_EQ(sdnotify_watchdog_usec("30000000", "43", 42), 0); /* another process's */
	CHECK_INT_EQ(sdnotify_watchdog_usec(NULL, NULL, 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec("0", NULL, 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec("", NULL, 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec("-5", NULL, 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec(" 5", NULL, 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec("5s", NULL, 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec("99999999999999999999999", NULL, 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec("5", "x", 42), 0);
	CHECK_INT_EQ(sdnotify_watchdog_usec("5", "", 42), 0);
}

static void test_journal_stream(void)
{
	uint64_t dev = 0, ino = 0;

	CHECK_INT_EQ(sdnotify_journal_stream("8:12345", &dev, &ino), 0);
	CHECK_INT_EQ(dev, 8);
	CHECK_INT_EQ(ino, 12345);
	CHECK_INT_EQ(sdnotify_journal_stream(NULL, &dev, &ino), -EINVAL);
	CHECK_INT_EQ(sdnotify_journal_stream("", &dev, &ino), -EINVAL);
	CHECK_INT_EQ(sdnotify_journal_stream("8", &dev, &ino), -EINVAL);
	CHECK_INT_EQ(sdnotify_journal_stream("8:", &dev, &ino), -EINVAL);
	CHECK_INT_EQ(sdnotify_journal_stream(":5", &dev, &ino), -EINVAL);
	CHECK_INT_EQ(sdnotify_journal_stream("8:5:6", &dev, &ino), -EINVAL);
	CHECK_INT_EQ(sdnotify_journal_stream("8:-5", &dev, &ino), -EINVAL);
	CHECK_INT_EQ(sdnotify_journal_stream("8:99999999999999999999999", &dev, &ino), -EINVAL);
}

int main(void)
{
	test_addresses();
	test_watchdog();
	test_journal_stream();
	return 0;
}
