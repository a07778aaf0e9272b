# Pure R: a stored fit prints and answers accessors without Python.

fixture <- function() readRDS(test_path("fixtures", "sleepstudy-reml.rds"))

test_that("the stored fit prints lme4's layout without Python", {
  fit <- fixture()
  expect_s3_class(fit, "tabmix")
  out <- capture.output(print(fit))
  expect_equal(out[1], "Linear mixed model fit by REML ['lmerMod']")
  expect_true("REML criterion at convergence: 1743.628" %in% out)
  expect_true("Number of obs: 180, groups:  Subject, 18" %in% out)
  expect_true(any(grepl("^     251.41        10.47  $", out)))
  s <- capture.output(print(summary(fit)))
  expect_true("Random effects:" %in% s)
  expect_true("Correlation of Fixed Effects:" %in% s)
  expect_output(print(VarCorr(fit)), "Residual")
})

test_that("the stored fit answers accessors without Python", {
  fit <- fixture()
  expect_equal(unname(fixef(fit)), c(251.405104848, 10.467285959), tolerance = 1e-6)
  expect_equal(sigma(fit), 25.5918156, tolerance = 1e-6)
  ll <- logLik(fit)
  expect_s3_class(ll, "logLik")
  expect_equal(attr(ll, "df"), 6L)
  expect_equal(AIC(fit), 1755.628, tolerance = 1e-6)
  expect_equal(nobs(fit), 180L)
  expect_equal(dim(vcov(fit)), c(2L, 2L))
  expect_equal(nrow(ranef(fit)$Subject), 18L)
  expect_equal(names(as.data.frame(VarCorr(fit))), c("grp", "var1", "var2", "vcov", "sdcor"))
  expect_length(fitted(fit), 180L)
  expect_equal(predict(fit), fitted(fit))
  expect_equal(unname(residuals(fit) + fitted(fit)), fit$y, tolerance = 1e-8)
})
