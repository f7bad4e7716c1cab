/* Capabilities: the short list a container may hold, and dropping everything else. */
#ifndef SN_CAPS_H
#define SN_CAPS_H

#include <stdint.h>
#include "util.h"

/* Bit mask of the capabilities a spec may ask for (Docker's defaults minus NET_RAW). */
extern const uint64_t caps_allowed;

int caps_from_name(const char *name);   /* CAP_CHOWN → 0; -1 if unknown */
const char *caps_name(int cap);
/* Cut the bounding set to `bounding` (needs CAP_SETPCAP, so do it first). */
int caps_drop_bounding(uint64_t bounding, struct sn_error *e);
/* Set permitted and effective exactly; inheritable and ambient always empty. */
int caps_set(uint64_t permitted, uint64_t effective, struct sn_error *e);

#endif
