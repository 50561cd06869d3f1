/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cunit-tap.h — run every registered CUnit suite and report each test as a
 * TAP line, so automake's harness counts behaviours rather than programs.
 */
#pragma once

#include <CUnit/CUnit.h>

typedef struct {
        const char *name;
        CU_TestFunc func;
} TapTest;

/* A table row for test_NAME, reported as NAME: each name written once. */
#define TAP_TEST(name) { #name, test_##name }

/* Registers a suite from a NULL-terminated table; aborts on registry errors. */
void tap_add_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc cleanup,
                   const TapTest *tests);

/* The same, with a setup and teardown around every test. */
void tap_add_suite_full(const char *name, CU_InitializeFunc init, CU_CleanupFunc cleanup,
                        CU_SetUpFunc setup, CU_TearDownFunc teardown, const TapTest *tests);

/* Runs everything registered; returns the process exit status (0 unless the
 * framework itself failed: test failures are reported as "not ok"). */
int tap_run(void);
