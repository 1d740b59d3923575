/* synccatalog, the catalog rules of the sync: paging, merging pages, names that left. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "zones/nacos/synccatalog.h"

#define PAGE 10000

static char **names_page(unsigned first, size_t n)
{
	char **v = calloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		char buf[32];
		snprintf(buf, sizeof(buf), "svc-%06zu", first + i);
		v[i] = strdup(buf);
	}
	return v;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Two full pages of 10000 and a short third: three pages asked, 25000 names merged. */
static void test_paging(void)
{
	char **acc = NULL;
	size_t n_acc = 0, total = 25000, got[] = {PAGE, PAGE, 5000};
	unsigned page = 1, asked = 0;
	for (;;) {
		asked++;
		CHECK_INT_EQ(synccatalog_append(&acc, &n_acc,
						names_page((page - 1) * PAGE, got[page - 1]),
						got[page - 1], 100000),
			     0);
		if (!synccatalog_more(got[page - 1], page, PAGE, total, 200))
			break;
		page++;
	}
	CHECK_INT_EQ(asked, 3);
	synccatalog_normalise(acc, &n_acc);
	CHECK_INT_EQ(n_acc, 25000);
	CHECK_STR_EQ(acc[0], "svc-000000");
	CHECK_STR_EQ(acc[24999], "svc-024999");
	CHECK(!synccatalog_partial(total, total, 25000));
	strv_free(acc, n_acc);

	/* A short page ends the listing whatever totalCount says; so does the page cap. */
	CHECK(!synccatalog_more(9999, 1, PAGE, 50000, 200));
	CHECK(synccatalog_more(PAGE, 1, PAGE, 50000, 200));
	CHECK(!synccatalog_more(PAGE, 5, PAGE, 50000, 200)); /* 5 pages make 50000 */
	CHECK(!synccatalog_more(PAGE, 200, PAGE, 10000000, 200));
}

/* Pages that repeat names (the set changed between them) merge without duplicates, and the
 * listing counts as partial: totalCount moved, or fewer items than it came. */
static void test_merge(void)
{
	char **acc = NULL;
	size_t n_acc = 0;
	char **p1 = names_page(0, PAGE), **p2 = names_page(PAGE - 5, PAGE);
	CHECK_INT_EQ(synccatalog_append(&acc, &n_acc, p1, PAGE, 100000), 0);
	CHECK_INT_EQ(synccatalog_append(&acc, &n_acc, p2, PAGE, 100000), 0);
	CHECK_INT_EQ(n_acc, 2 * PAGE);
	synccatalog_normalise(acc, &n_acc);
	CHECK_INT_EQ(n_acc, 2 * PAGE - 5);
	for (size_t i = 1; i < n_acc; i++)
		CHECK(strcmp(acc[i - 1], acc[i]) < 0);
	CHECK(synccatalog_partial(20000, 20001, 20000));
	CHECK(synccatalog_partial(20000, 20000, 19999));
	CHECK(!synccatalog_partial(20000, 20000, 20000));

	/* A partial listing keeps every old name: the union. */
	char *old[] = {"aaa", "svc-000003", "zzz"};
	synccatalog_union(&acc, &n_acc, old, 3);
	CHECK_INT_EQ(n_acc, 2 * PAGE - 5 + 2);
	CHECK_STR_EQ(acc[0], "aaa");
	CHECK_STR_EQ(acc[n_acc - 1], "zzz");
	strv_free(acc, n_acc);
}

/* Over max names: refused whole, and what was paged in stays. */
static void test_cap(void)
{
	char **acc = NULL;
	size_t n_acc = 0;
	CHECK_INT_EQ(synccatalog_append(&acc, &n_acc, names_page(0, PAGE), PAGE, 15000), 0);
	CHECK_INT_EQ(synccatalog_append(&acc, &n_acc, names_page(PAGE, PAGE), PAGE, 15000), -E2BIG);
	CHECK_INT_EQ(n_acc, PAGE);
	CHECK_STR_EQ(acc[PAGE - 1], "svc-009999");
	strv_free(acc, n_acc);
}

struct seen {
	char names[8][16];
	size_t n;
};

static void on_gone(void *arg, const char *name)
{
	struct seen *s = arg;
	snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name);
}

static void test_gone(void)
{
	char *old[] = {"a", "b", "c", "d", "e"}, *fresh[] = {"b", "d", "f"};
	struct seen s = {.n = 0};
	CHECK_INT_EQ(synccatalog_gone(old, 5, fresh, 3, on_gone, &s), 3);
	CHECK_INT_EQ(s.n, 3);
	CHECK_STR_EQ(s.names[0], "a");
	CHECK_STR_EQ(s.names[1], "c");
	CHECK_STR_EQ(s.names[2], "e");
	CHECK_INT_EQ(synccatalog_gone(old, 5, old, 5, NULL, NULL), 0);
	CHECK_INT_EQ(synccatalog_gone(old, 5, NULL, 0, NULL, NULL), 5);
}

int main(void)
{
	test_paging();
	test_merge();
	test_cap();
	test_gone();
	return 0;
}
