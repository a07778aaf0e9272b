# library(lme4) and library(tabmixr) in either order: ngrps, isSingular and
# getME reach tabmix fits (pure R, on the stored fixture, in fresh R processes).

run_r <- function(code) {
  rscript <- file.path(R.home("bin"), "Rscript")
  out <- suppressWarnings(system2(rscript, c("-e", shQuote(code)), stdout = TRUE, stderr = TRUE))
  list(status = attr(out, "status"), out = out)
}

test_that("lme4 generics work with tabmix fits whichever package is attached last", {
  skip_if_not_installed("lme4")
  path <- normalizePath(test_path("fixtures", "sleepstudy-reml.rds"))
  body <- sprintf(paste(
    "fit <- readRDS('%s');",
    "cat(ngrps(fit), isSingular(fit), lme4::ngrps(fit), lme4::isSingular(fit),",
    "length(lme4::getME(fit, 'theta')), fixef(fit)[[2]] > 10, '\\n')"), path)
  for (first in c("lme4", "tabmixr")) {
    second <- setdiff(c("lme4", "tabmixr"), first)
    code <- sprintf("suppressMessages({library(%s); library(%s)}); %s", first, second, body)
    res <- run_r(code)
    expect_null(res$status)
    expect_equal(trimws(utils::tail(res$out, 1)), "18 FALSE 18 FALSE 3 TRUE", label = first)
  }
})
