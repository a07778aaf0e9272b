test_that("REML fit of sleepstudy matches lme4::lmer", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  fit <- sleep_fit()
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  expect_s3_class(fit, c("tabmix_reml", "tabmix"))
  expect_equal(fixef(fit), lme4::fixef(ref), tolerance = 1e-5)
  expect_equal(sigma(fit), sigma(ref), tolerance = 1e-4)
  ours <- as.data.frame(VarCorr(fit))
  theirs <- as.data.frame(lme4::VarCorr(ref))
  expect_named(ours, c("grp", "var1", "var2", "vcov", "sdcor"))
  expect_equal(ours$grp, theirs$grp)
  expect_equal(ours$var1, theirs$var1)
  expect_equal(ours$var2, theirs$var2)
  expect_equal(ours$sdcor, theirs$sdcor, tolerance = 1e-4)
  expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(ref)), tolerance = 1e-6)
  expect_equal(attr(logLik(fit), "df"), attr(logLik(ref), "df"))
  expect_equal(AIC(fit), AIC(ref), tolerance = 1e-6)
  expect_equal(BIC(fit), BIC(ref), tolerance = 1e-6)
  expect_equal(nobs(fit), nobs(ref))
  expect_equal(vcov(fit), as.matrix(vcov(ref)), tolerance = 1e-4)
  expect_equal(unname(fitted(fit)), unname(fitted(ref)), tolerance = 1e-5)
  expect_equal(unname(residuals(fit)), unname(residuals(ref)), tolerance = 1e-4)
  r_ours <- ranef(fit)$Subject
  r_lme4 <- lme4::ranef(ref)$Subject
  expect_equal(rownames(r_ours), rownames(r_lme4))
  expect_equal(as.matrix(r_ours), as.matrix(r_lme4), tolerance = 1e-4, ignore_attr = TRUE)
  expect_equal(as.matrix(coef(fit)$Subject), as.matrix(coef(ref)$Subject),
               tolerance = 1e-5, ignore_attr = TRUE)
  expect_equal(lme4::ngrps(fit), lme4::ngrps(ref))
  expect_false(lme4::isSingular(fit))
  expect_equal(unname(predict(fit, re.form = NA)), unname(predict(ref, re.form = NA)),
               tolerance = 1e-5)
  expect_equal(formula(fit), Reaction ~ Days + (Days | Subject), ignore_attr = TRUE)
})

test_that("ML fit matches lme4 (REML = FALSE)", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  fit <- sleep_fit("ml")
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, REML = FALSE)
  expect_s3_class(fit, "tabmix_ml")
  expect_equal(fixef(fit), lme4::fixef(ref), tolerance = 1e-5)
  expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(ref)), tolerance = 1e-6)
  expect_output(print(fit), "AIC")
})

test_that("summary prints lme4's layout", {
  skip_if_no_tabmixr()
  fit <- sleep_fit()
  out <- capture.output(print(summary(fit)))
  expect_equal(out[1], "Linear mixed model fit by REML ['lmerMod']")
  expect_true("Formula: Reaction ~ Days + (Days | Subject)" %in% out)
  expect_true(any(grepl("^REML criterion at convergence: 1743.6$", out)))
  expect_true(any(grepl("^ Subject  \\(Intercept\\) 612.09   24.740 +$", out)))
  expect_true(any(grepl("^\\(Intercept\\)  251.405      6.825  36.838$", out)))
  expect_true(any(grepl("^Days          10.467      1.546   6.771$", out)))
  expect_true("Number of obs: 180, groups:  Subject, 18" %in% out)
  printed <- capture.output(print(fit))
  expect_true("REML criterion at convergence: 1743.628" %in% printed)
  expect_true("Fixed Effects:" %in% printed)
})

test_that("print(fit) matches print(lmer fit) apart from the Data line", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  sleepstudy <- lme4::sleepstudy
  fit <- tabmix(Reaction ~ Days + (Days | Subject), sleepstudy)
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  ours <- capture.output(print(fit))
  theirs <- capture.output(print(ref))
  # lme4's SDs differ from ours in the last printed digit at most.
  keep <- !grepl("^ (Subject|Residual|         )", ours)
  expect_equal(ours[keep], theirs[keep])
})

test_that("summary() is lme4's summary (weights, offset, NA rows, ML) up to last-digit SDs", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  d <- lme4::sleepstudy
  d$w <- rep(c(1, 2, 0.5), 60)
  d$Reaction[5] <- NA
  for (reml in c(TRUE, FALSE)) {
    fit <- tabmix(Reaction ~ Days + (Days | Subject), d, method = if (reml) "reml" else "ml",
                  weights = w, offset = Days / 10)
    ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), d, REML = reml, weights = w,
                      offset = Days / 10)
    ours <- capture.output(print(summary(fit)))
    theirs <- capture.output(print(summary(ref)))
    expect_equal(length(ours), length(theirs))
    # Variance lines and t values may differ in the last printed digit
    # (optimizer tolerance); every other line is identical.
    same <- !grepl("^ (Subject|Residual|         )|^\\(Intercept\\)", theirs)
    expect_equal(ours[same], theirs[same])
    expect_true("Weights: w" %in% ours)
    expect_true(" Offset: Days/10" %in% ours)
  }
})
