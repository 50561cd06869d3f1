/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cunit-tap.c — CUnit's runner, TAP's output.
 *
 * The plan line is printed first from the registry's count; each test's
 * completion handler prints "ok"/"not ok" with its failed assertions as TAP
 * diagnostics. A suite whose init fails makes every test in it "not ok".
 */
#include <CUnit/TestRun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit-tap.h"

static unsigned tap_number;

void tap_add_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc cleanup,
                   const TapTest *tests)
{
        tap_add_suite_full(name, init, cleanup, NULL, NULL, tests);
}

void tap_add_suite_full(const char *name, CU_InitializeFunc init, CU_CleanupFunc cleanup,
                        CU_SetUpFunc setup, CU_TearDownFunc teardown, const TapTest *tests)
{
        /* INGESTER_TEST_FILTER=substring runs only the matching tests (for debugging) */
        const char *filter = getenv("INGESTER_TEST_FILTER");
        CU_pSuite suite;

        if (CU_get_registry() == NULL && CU_initialize_registry() != CUE_SUCCESS) {
                fprintf(stderr, "Bail out! CUnit registry: %s\n", CU_get_error_msg());
                exit(99);
        }
        suite = CU_add_suite_with_setup_and_teardown(name, init, cleanup, setup, teardown);
        if (!suite) {
                fprintf(stderr, "Bail out! CU_add_suite(%s): %s\n", name, CU_get_error_msg());
                exit(99);
        }
        for (const TapTest *t = tests; t->name; t++)
                if ((!filter || strstr(t->name, filter)) && !CU_add_test(suite, t->name, t->func)) {
                        fprintf(stderr, "Bail out! CU_add_test(%s): %s\n", t->name,
                                CU_get_error_msg());
                        exit(99);
                }
}

static void on_test_complete(const CU_pTest test, const CU_pSuite suite,
                             const CU_pFailureRecord failure)
{
        printf("%s %u - %s/%s\n", failure ? "not ok" : "ok", ++tap_number, suite->pName,
               test->pName);
        for (CU_pFailureRecord f = failure; f; f = f->pNext)
                printf("# %s:%u: %s\n", f->strFileName ? f->strFileName : "?", f->uiLineNumber,
                       f->strCondition ? f->strCondition : "");
        fflush(stdout);
}

static void on_suite_init_failure(const CU_pSuite suite)
{
        for (CU_pTest t = suite->pTest; t; t = t->pNext)
                printf("not ok %u - %s/%s # suite initialisation failed\n", ++tap_number,
                       suite->pName, t->pName);
        fflush(stdout);
}

int tap_run(void)
{
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("1..%u\n", CU_get_registry()->uiNumberOfTests);
        fflush(stdout);
        CU_set_test_complete_handler(on_test_complete);
        CU_set_suite_init_failure_handler(on_suite_init_failure);
        if (CU_run_all_tests() != CUE_SUCCESS) {
                printf("Bail out! CU_run_all_tests: %s\n", CU_get_error_msg());
                CU_cleanup_registry();
                return 99;
        }
        CU_cleanup_registry();
        return 0;
}
