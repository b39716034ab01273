// gcc's -fsanitize-coverage=trace-cmp (the fuzz smoke of the sanitizer build, CMakeLists.txt)
// also reports floating-point comparisons, through two hooks that neither libFuzzer nor gcc's
// sanitizer runtimes define (clang does not emit them). libFuzzer would ignore them anyway:
// these no-ops only let the instrumented objects link.
extern "C" {
void __sanitizer_cov_trace_cmpf(float, float) {}
void __sanitizer_cov_trace_cmpd(double, double) {}
}
