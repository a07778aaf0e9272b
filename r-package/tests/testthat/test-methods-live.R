# Methods that need a live fit, against lme4 on the same data.

test_that("confint() gives lme4's Wald intervals; profile is refused clearly", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  fit <- sleep_fit()
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  ours <- confint(fit)
  theirs <- confint(ref, method = "Wald")
  expect_equal(dimnames(ours), dimnames(theirs))
  expect_equal(ours, theirs, tolerance = 1e-5)
  expect_equal(confint(fit, "beta_", level = 0.9), confint(ref, "beta_", level = 0.9, method = "Wald"),
               tolerance = 1e-5)
  expect_error(confint(fit, method = "profile"), "only Wald intervals")
  expect_error(confint(fit, parm = "Dayz"), "unknown parameter\\(s\\) Dayz")
})

test_that("anova() of tabmix fits, and of a tabmix fit with an lmerMod, is lme4's table", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  sleepstudy <- lme4::sleepstudy
  m0 <- tabmix(Reaction ~ Days + (1 | Subject), sleepstudy)
  m1 <- tabmix(Reaction ~ Days + (Days | Subject), sleepstudy)
  r0 <- lme4::lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
  r1 <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  expect_message(ours <- anova(m1, m0), "refitting model\\(s\\) with ML")
  theirs <- suppressMessages(anova(r1, r0))
  expect_s3_class(ours, "anova")
  expect_equal(names(ours), names(theirs))
  expect_equal(rownames(ours), c("m0", "m1"))
  expect_equal(attr(ours, "heading"), sub("r([01])", "m\\1", attr(theirs, "heading")))
  expect_equal(as.data.frame(ours), as.data.frame(theirs), tolerance = 1e-5, ignore_attr = TRUE)
  mixed <- suppressMessages(anova(m0, r1))
  expect_equal(mixed$Chisq[2], theirs$Chisq[2], tolerance = 1e-5)
  expect_equal(rownames(mixed), c("m0", "r1"))
  out <- capture.output(print(ours))
  expect_true(any(grepl("^m1 +6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10 \\*\\*\\*$", out)))
  d <- sleepstudy
  d$g2 <- factor(d$Days %% 3)
  one <- tabmix(Reaction ~ Days * g2 + (1 | Subject), d)
  expect_equal(anova(one), anova(lme4::lmer(Reaction ~ Days * g2 + (1 | Subject), d)),
               tolerance = 1e-6)
  expect_error(anova(m0, lm(Reaction ~ Days, sleepstudy)), "argument 2 is a lm")
})

test_that("tm_get() answers as lme4's getME()", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  fit <- sleep_fit()
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  dense <- function(m) matrix(as.numeric(as.matrix(m)), nrow(m))
  expect_equal(dense(tm_get(fit, "X")), dense(lme4::getME(ref, "X")))
  expect_equal(dense(tm_get(fit, "Z")), dense(lme4::getME(ref, "Z")))
  expect_equal(dense(tm_get(fit, "Zt")), dense(lme4::getME(ref, "Zt")))
  expect_equal(dense(tm_get(fit, "Lambda")), dense(lme4::getME(ref, "Lambda")), tolerance = 1e-4)
  expect_equal(tm_get(fit, "theta"), lme4::getME(ref, "theta"), tolerance = 1e-4)
  expect_equal(tm_get(fit, "b"), as.vector(lme4::getME(ref, "b")), tolerance = 1e-4)
  expect_equal(tm_get(fit, "u"), as.vector(lme4::getME(ref, "u")), tolerance = 1e-3)
  expect_equal(tm_get(fit, "flist")$Subject, lme4::getME(ref, "flist")$Subject)
  expect_equal(tm_get(fit, "cnms"), lme4::getME(ref, "cnms"))
  expect_equal(tm_get(fit, "lower"), lme4::getME(ref, "lower"))
  expect_equal(tm_get(fit, "Gp"), lme4::getME(ref, "Gp"))
  expect_equal(tm_get(fit, "y"), lme4::getME(ref, "y"), ignore_attr = TRUE)
  expect_equal(tm_get(fit, "mu"), lme4::getME(ref, "mu"), tolerance = 1e-5)
  expect_equal(tm_get(fit, c("n", "p", "q")), list(n = 180L, p = 2L, q = 36L))
  expect_equal(lme4::getME(fit, "theta"), tm_get(fit, "theta"))
  expect_error(tm_get(fit, "Ztlist"), "not available; known names")
  r_post <- attr(lme4::ranef(ref, condVar = TRUE)$Subject, "postVar")
  expect_equal(attr(ranef(fit)$Subject, "postVar"), r_post, tolerance = 1e-4)
  as_chr <- function(f) data.frame(lapply(f[, 1:3], as.character))
  expect_equal(as_chr(as.data.frame(ranef(fit))), as_chr(as.data.frame(lme4::ranef(ref))))
  expect_equal(as.data.frame(ranef(fit))$condsd, as.data.frame(lme4::ranef(ref))$condsd,
               tolerance = 1e-4)
})

test_that("isSingular() agrees with lme4 on a singular fit", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  set.seed(1)
  d <- data.frame(x = rep(1:5, 8), g = factor(rep(letters[1:8], each = 5)))
  d$y <- d$x + stats::rnorm(40)
  fit <- tabmix(y ~ x + (1 | g), d)
  ref <- lme4::lmer(y ~ x + (1 | g), d)
  expect_true(lme4::isSingular(ref))
  expect_true(isSingular(fit))
  expect_true(lme4::isSingular(fit))
  expect_false(isSingular(sleep_fit()))
})

test_that("rows dropped for NA keep R's row names; model.frame and model.matrix follow", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  d <- lme4::sleepstudy
  d$Reaction[c(3, 10)] <- NA
  d$Days[50] <- NA
  fit <- tabmix(Reaction ~ Days + (Days | Subject), d)
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), d)
  expect_equal(names(fitted(fit)), names(fitted(ref)))
  expect_equal(names(residuals(fit)), names(residuals(ref)))
  expect_equal(fitted(fit), fitted(ref), tolerance = 1e-5)
  expect_equal(rownames(model.frame(fit)), rownames(model.frame(ref)))
  expect_equal(model.frame(fit), model.frame(ref), ignore_attr = TRUE)
  expect_equal(model.matrix(fit), model.matrix(ref), ignore_attr = TRUE)
  expect_equal(rownames(model.matrix(fit)), rownames(model.matrix(ref)))
  expect_equal(dim(model.matrix(fit, type = "random")), c(177L, 36L))
})

test_that("weights and offset reach the fit and the summary prints them", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  d <- lme4::sleepstudy
  d$w <- rep(c(1, 2, 0.5), 60)
  d$off <- d$Days / 10
  fit <- tabmix(Reaction ~ Days + (Days | Subject), d, weights = w, offset = off)
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), d, weights = w, offset = off)
  expect_equal(fixef(fit), lme4::fixef(ref), tolerance = 1e-5)
  out <- capture.output(print(summary(fit)))
  expect_true("Weights: w" %in% out)
  expect_true(" Offset: off" %in% out)
  expect_equal(model.frame(fit)[["(weights)"]], d$w)
  expect_equal(tm_get(fit, "offset"), d$off)
})

test_that("a subset selects rows as in lme4", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  fit <- tabmix(Reaction ~ Days + (1 | Subject), lme4::sleepstudy, subset = Days > 2)
  ref <- lme4::lmer(Reaction ~ Days + (1 | Subject), lme4::sleepstudy, subset = Days > 2)
  expect_equal(nobs(fit), nobs(ref))
  expect_equal(fixef(fit), lme4::fixef(ref), tolerance = 1e-5)
  expect_equal(names(fitted(fit)), names(fitted(ref)))
})

test_that("characters (with NA) and ordered factors are encoded as lme4 does", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  d <- lme4::sleepstudy
  d$o <- factor(d$Days %% 3, ordered = TRUE)
  d$ch <- as.character(d$Subject)
  d$ch[3] <- NA
  fit <- tabmix(Reaction ~ Days + o + (1 | ch), d)
  ref <- lme4::lmer(Reaction ~ Days + o + (1 | ch), d)
  expect_equal(nobs(fit), 179L)
  expect_equal(fixef(fit), lme4::fixef(ref), tolerance = 1e-5)
  expect_equal(names(fitted(fit)), names(fitted(ref)))
  expect_equal(rownames(ranef(fit)$ch), rownames(lme4::ranef(ref)$ch))
})
