#include "commands.h"
#include "state.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

int cmd_state(const struct sn_globals *g, int argc, char **argv)
{
    if (argc != 2) { sn_log("state needs exactly one container id"); return SN_EXIT_FAILED; }
    struct sn_state st;
    struct sn_error e;
    if (state_read(g->root, argv[1], &st, &e) < 0) { sn_error_print(&e); return SN_EXIT_FAILED; }
    json_object *o = state_public_json(&st);
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    state_free(&st);
    return 0;
}

int cmd_list(const struct sn_globals *g, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    DIR *d = opendir(g->root);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && state_id_ok(de->d_name)) puts(de->d_name);
    closedir(d);
    return 0;
}
