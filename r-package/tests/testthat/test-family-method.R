test_that("R families go to Python as list(family, link)", {
  fam <- tabmixr:::family_for_python
  expect_equal(fam(gaussian()), list(family = "gaussian", link = "identity"))
  expect_equal(fam(binomial()), list(family = "binomial", link = "logit"))
  expect_equal(fam(poisson(link = "sqrt")), list(family = "poisson", link = "sqrt"))
  expect_equal(fam(Gamma), list(family = "Gamma", link = "inverse"))
  expect_equal(fam("binomial"), list(family = "binomial", link = "logit"))
  expect_equal(fam("student"), list(family = "student", link = NULL))
  expect_error(fam(42), "family must be a family object")
})

test_that("method is validated in R and the class carries it", {
  expect_error(tabmix(Reaction ~ Days + (1 | Subject), data.frame(), method = "mcmc"),
               "'arg' should be one of")
  expect_error(tabmix(y ~ x, data.frame(y = 1), control = list(a = 1)), "tabmix_control")
  expect_error(tabmix_control(1), "must be named")
  expect_s3_class(tabmix_control(start = 1), "tabmix_control")
})

test_that("a non-Gaussian family reaches Python and its answer comes back", {
  skip_if_no_tabmixr()
  d <- lme4::cbpp
  res <- tryCatch(tabmix(cbind(incidence, size - incidence) ~ period + (1 | herd), d,
                         family = binomial(), method = "reml"),
                  error = function(e) e)
  # The exact engine fits Gaussian models only: it must say so, by family name.
  expect_s3_class(res, "tabmix_error")
  expect_match(conditionMessage(res), "binomial")
})
