/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replay.c — runs a libFuzzer target over every file of its corpus
 * directories without libFuzzer, so that make check replays the corpus
 * (and every crash once found) with the project's own compiler. Prints
 * TAP: one line per directory.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Without arguments: $INGESTER_TEST_DATA (the hostile corpus) and
 * $INGESTER_TEST_DATA/fuzz/FUZZ_NAME (this target's own corpus and crashes). */
int main(int argc, char **argv)
{
        g_autofree char *own = NULL;
        char *defaults[3];

        if (argc == 1 && g_getenv("INGESTER_TEST_DATA")) {
                own = g_build_filename(g_getenv("INGESTER_TEST_DATA"), "fuzz", FUZZ_NAME, NULL);
                defaults[0] = argv[0];
                defaults[1] = (char *) g_getenv("INGESTER_TEST_DATA");
                defaults[2] = own;
                argc = 3;
                argv = defaults;
        }
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        printf("1..%d\n", argc - 1);
        for (int i = 1; i < argc; i++) {
                g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
                const char *name;
                unsigned n = 0;

                if (!dir) {
                        printf("not ok %d - %s: cannot open\n", i, argv[i]);
                        continue;
                }
                while ((name = g_dir_read_name(dir))) {
                        g_autofree char *path = g_build_filename(argv[i], name, NULL);
                        g_autofree char *data = NULL;
                        gsize len;
                        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR) ||
                            !g_file_get_contents(path, &data, &len, NULL))
                                continue;
                        LLVMFuzzerTestOneInput((const uint8_t *) data, len);
                        n++;
                }
                printf("ok %d - %u inputs of %s replayed\n", i, n, argv[i]);
        }
        return 0;
}
