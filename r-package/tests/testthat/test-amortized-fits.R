# method = "amortized" through the bridge: brms's summary layout, lme4's accessors, a
# posterior close to the REML fit of sleepstudy (weakly informative default priors).

test_that("an amortized fit prints brms's layout and agrees with lmer", {
  skip_if_no_tabmixr()
  skip_if_not_installed("lme4")
  fit <- suppressWarnings(sleep_fit("amortized"))
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  expect_s3_class(fit, c("tabmix_amortized", "tabmix"), exact = TRUE)
  out <- capture.output(print(summary(fit)))
  expect_equal(out[1], " Family: gaussian ")
  expect_true(all(c("Group-Level Effects: ", "Population-Level Effects: ",
                    "Family Specific Parameters: ") %in% out))
  expect_match(out[grep("^Population-Level", out) + 1], "Estimate Est.Error l-95% CI u-95% CI")
  se <- sqrt(diag(as.matrix(vcov(ref))))
  expect_true(all(abs(fixef(fit) - lme4::fixef(ref)) < 0.3 * se))
  expect_equal(sigma(fit), sigma(ref), tolerance = 0.05)
  expect_equal(ngrps(fit), c(Subject = 18L))
  path <- tempfile(fileext = ".rds")
  saveRDS(fit, path)
  back <- readRDS(path)
  expect_equal(predict(back, lme4::sleepstudy[1:5, ]), predict(fit, lme4::sleepstudy[1:5, ]))
})

test_that("a formula outside the trained model is an R error naming the limit", {
  skip_if_no_tabmixr()
  expect_error(tabmix(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), lme4::sleepstudy,
                      method = "amortized"),
               "exactly one random-effect term")
})
