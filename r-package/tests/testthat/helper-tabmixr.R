# Skip tests that need Python when the tabmixr module cannot be imported.
skip_if_no_tabmixr <- function() {
  if (!tabmixr::tabmixr_available()) {
    testthat::skip("Python module tabmixr not available (set TABMIXR_PYTHON or RETICULATE_PYTHON)")
  }
}

sleep_fit <- function(method = "reml") {
  tabmix(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, method = method)
}
