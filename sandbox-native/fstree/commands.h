#ifndef FSTREE_COMMANDS_H
#define FSTREE_COMMANDS_H

int cmd_copy(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_lookup(int argc, char **argv);
int cmd_read(int argc, char **argv);

int usage(void);
/* FSTREE_MAX_ENTRIES, or a default that no learner's container comes near. */
unsigned long max_entries(void);

#endif
