/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The test-only app_stamp VNF's `app` map value (tests/support/app_stamp.h). */
#ifndef SFC_APP_STAMP_H
#define SFC_APP_STAMP_H

#include <linux/types.h>

struct app_stamp {
	__u16 app;         /* nDPI application id for struct sfc_pkt app */
	__u8 app_category; /* nDPI category id */
	__u8 pad;
};

#endif /* SFC_APP_STAMP_H */
