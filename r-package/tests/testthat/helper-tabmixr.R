# Skip tests that need Python when the tabmixr module cannot be imported, or
# inside `make check-r` (TABMIXR_TESTS_NO_PYTHON=true: `make test-r` ran them).
skip_if_no_tabmixr <- function() {
  if (identical(Sys.getenv("TABMIXR_TESTS_NO_PYTHON"), "true")) {
    testthat::skip("Python tests off (TABMIXR_TESTS_NO_PYTHON=true)")
  }
  if (!tabmixr::tabmixr_available()) {
    testthat::skip("Python module tabmixr not available (set TABMIXR_PYTHON or RETICULATE_PYTHON)")
  }
}

sleep_fit <- function(method = "reml") {
  tabmix(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, method = method)
}
