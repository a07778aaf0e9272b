test_that("a fit survives saveRDS/readRDS and predicts the same", {
  skip_if_no_tabmixr()
  fit <- sleep_fit()
  newdata <- lme4::sleepstudy[c(1, 50, 100, 180), ]
  before <- predict(fit, newdata)
  before_pop <- predict(fit, newdata, re.form = NA)
  path <- tempfile(fileext = ".rds")
  saveRDS(fit, path)
  back <- readRDS(path)
  expect_equal(predict(back, newdata), before)
  expect_equal(predict(back, newdata, re.form = NA), before_pop)
  expect_equal(predict(back, newdata, re.form = ~ (1 | Subject)),
               predict(fit, newdata, re.form = ~ (1 | Subject)))
  expect_equal(names(before), rownames(newdata))
  expect_equal(unname(predict(fit, lme4::sleepstudy)), unname(fitted(fit)), tolerance = 1e-8)
  expect_identical(capture.output(print(back)), capture.output(print(fit)))
})

test_that("new levels need allow.new.levels", {
  skip_if_no_tabmixr()
  fit <- sleep_fit()
  newdata <- data.frame(Days = c(0, 5), Subject = factor(c("999", "308")))
  expect_error(predict(fit, newdata), "allow_new_levels", class = "tabmix_error")
  p <- predict(fit, newdata, allow.new.levels = TRUE)
  expect_equal(unname(p[1]), unname(fixef(fit)[1]), tolerance = 1e-8)
})

test_that("simulate gives nsim reproducible columns", {
  skip_if_no_tabmixr()
  fit <- sleep_fit()
  s1 <- simulate(fit, nsim = 3, seed = 42)
  expect_equal(dim(s1), c(180L, 3L))
  expect_named(s1, c("sim_1", "sim_2", "sim_3"))
  expect_equal(simulate(fit, nsim = 3, seed = 42), s1)
})

test_that("predict() takes characters and factors in newdata alike", {
  skip_if_no_tabmixr()
  fit <- sleep_fit()
  chr <- data.frame(Days = 0:2, Subject = c("308", "309", "308"), stringsAsFactors = FALSE)
  fac <- transform(chr, Subject = factor(Subject, levels = c("309", "308")))
  expect_equal(predict(fit, chr), predict(fit, fac))
  expect_equal(unname(predict(fit, chr)), unname(fitted(fit)[c(1, 12, 3)]), tolerance = 1e-8)
})
