# compare_fits(): pure R on the stored fixture, lme4 and a hand-made brmsfit.

fixture <- function() readRDS(test_path("fixtures", "sleepstudy-reml.rds"))

# A brmsfit stand-in exposing brms's documented accessors: fixef() and
# VarCorr() return posterior summaries (columns Estimate, Est.Error, Q2.5,
# Q97.5; VarCorr()$g$cor is coef x stat x coef), logLik() draws x obs.
fake_brmsfit <- function() {
  stats4 <- c("Estimate", "Est.Error", "Q2.5", "Q97.5")
  fe <- matrix(c(251.2, 10.5, 7, 1.7, 237, 7.1, 265, 13.9), 2, 4,
               dimnames = list(c("Intercept", "Days"), stats4))
  sd <- matrix(c(26.9, 6.6, 7, 1.5, 15, 4, 42, 10), 2, 4, dimnames = list(c("Intercept", "Days"), stats4))
  cor <- array(0, c(2, 4, 2), list(c("Intercept", "Days"), stats4, c("Intercept", "Days")))
  cor[, "Estimate", ] <- matrix(c(1, 0.08, 0.08, 1), 2)
  vc <- list(Subject = list(sd = sd, cor = cor),
             residual__ = list(sd = matrix(c(25.8, 1.5, 23, 29), 1, 4, dimnames = list("", stats4))))
  ll <- matrix(-4.9, 4, 180)
  structure(list(fe = fe, vc = vc, ll = ll), class = c("tabmixr_test_brmsfit", "brmsfit"),
            fit_time = 42)
}

register_fake_brms <- function() {
  registerS3method("fixef", "tabmixr_test_brmsfit", function(object, ...) object$fe,
                   envir = asNamespace("nlme"))
  registerS3method("VarCorr", "tabmixr_test_brmsfit", function(x, ...) x$vc,
                   envir = asNamespace("nlme"))
  registerS3method("logLik", "tabmixr_test_brmsfit", function(object, ...) object$ll,
                   envir = asNamespace("stats"))
}

test_that("compare_fits() lines up tabmix, lme4 and brms fits", {
  skip_if_not_installed("lme4")
  register_fake_brms()
  fit <- fixture()
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  attr(ref, "fit_time") <- 0.02
  tab <- compare_fits(tabmix = fit, lme4 = ref, brms = fake_brmsfit())
  expect_s3_class(tab, "tabmix_comparison")
  expect_equal(names(tab), c("section", "term", "tabmix", "lme4", "brms"))
  expect_equal(tab$term, c("(Intercept)", "Days", "sd(Subject: (Intercept))", "sd(Subject: Days)",
                           "cor(Subject: (Intercept), Days)", "sigma", "logLik", "fit time (s)",
                           "logLik | b"))
  expect_equal(tab$tabmix[1:2], unname(fixef(fit)))
  expect_equal(tab$lme4[1:5], c(unname(lme4::fixef(ref)), as.data.frame(lme4::VarCorr(ref))$sdcor[1:3]))
  expect_equal(tab$tabmix[3:6], as.data.frame(VarCorr(fit))$sdcor, tolerance = 1e-12)
  # brms's log-likelihood is conditional on the group effects: its own row, never beside lme4's
  expect_equal(tab$brms, c(251.2, 10.5, 26.9, 6.6, 0.08, 25.8, NA, 42, -4.9 * 180))
  expect_equal(tab$lme4[7:9], c(as.numeric(logLik(ref)), 0.02, NA))
  expect_equal(tab$tabmix[7], as.numeric(logLik(fit)))
  out <- capture.output(print(tab))
  expect_equal(out[1], "Fixed effects:")
  expect_true("Random effects (SD, correlation):" %in% out)
  expect_true(any(grepl("^Days +10.467 +10.467 +10.500$", out)))
})

test_that("compare_fits() names fits as typed and rejects other objects", {
  fit <- fixture()
  expect_equal(names(compare_fits(fit))[3], "fit")
  expect_error(compare_fits(fit, lm(dist ~ speed, cars)), "'lm\\(dist ~ speed, cars\\)' is a lm")
  expect_error(compare_fits(), "at least one fit")
})

test_that("with brms installed, its accessors are the ones compare_fits() calls", {
  skip_if_not_installed("brms")
  ns <- asNamespace("brms")
  expect_true(is.function(get("fixef.brmsfit", envir = ns)))
  expect_true(is.function(get("VarCorr.brmsfit", envir = ns)))
  expect_identical(brms::fixef, nlme::fixef)
  expect_identical(brms::VarCorr, nlme::VarCorr)
})
