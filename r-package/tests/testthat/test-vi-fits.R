# method = "vi" and non-Gaussian families through the bridge (the neural
# engine is built in Python; skipped where this tabmixr has no "vi" engine).

vi_fit_or_skip <- function(...) {
  fit <- tryCatch(tabmix(..., method = "vi"), tabmix_error = function(e) e)
  if (inherits(fit, "error")) {
    if (grepl("unknown method|no engine|not registered", conditionMessage(fit))) {
      testthat::skip(paste("no vi engine:", conditionMessage(fit)))
    }
    stop(fit)
  }
  fit
}

test_that("a Gaussian vi fit is a tabmix_vi object close to lme4's ML fit", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  fit <- vi_fit_or_skip(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, REML = FALSE)
  expect_s3_class(fit, c("tabmix_vi", "tabmix"), exact = TRUE)
  expect_equal(fixef(fit), lme4::fixef(ref), tolerance = 1e-3)
  expect_equal(as.data.frame(VarCorr(fit))$sdcor, as.data.frame(lme4::VarCorr(ref))$sdcor,
               tolerance = 0.05)
  expect_match(capture.output(print(summary(fit)))[1], "fit by vi")
  expect_equal(ngrps(fit), c(Subject = 18L))
})

test_that("binomial() reaches the vi engine; the fit compares with glmer", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  cbpp <- lme4::cbpp
  fit <- vi_fit_or_skip(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                        family = binomial())
  ref <- lme4::glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                     family = binomial())
  expect_equal(family(fit)$family, "binomial")
  expect_equal(family(fit)$link, "logit")
  expect_equal(fixef(fit), lme4::fixef(ref), tolerance = 0.02)
  tab <- compare_fits(vi = fit, glmer = ref)
  expect_equal(tab$vi[1:4], unname(fixef(fit)))
  expect_true(is.na(tab$vi[tab$term == "sigma"]))
  expect_equal(tab$glmer[tab$term == "logLik"], as.numeric(logLik(ref)))
})
