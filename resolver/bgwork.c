#include "bgwork.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

/* CFS weight 110 against 1024 at nice 0: under full load a background build gets about a tenth
 * of the CPU, so it still ends, and without load it runs at full speed. */
#define BGWORK_NICE 10

void bgwork_lower_priority(void)
{
	static _Thread_local int done;
	if (done)
		return;
	done = 1;
	id_t tid = (id_t)gettid();
	errno = 0;
	int cur = getpriority(PRIO_PROCESS, tid);
	if (errno == 0 && cur < BGWORK_NICE && setpriority(PRIO_PROCESS, tid, BGWORK_NICE) < 0)
		log_debug("bgwork", "cannot lower the priority of a pool thread: %s",
			  strerror(errno));
}
