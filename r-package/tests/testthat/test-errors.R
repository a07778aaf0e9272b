test_that("a Python error arrives as an R error with its message, no traceback", {
  skip_if_no_tabmixr()
  err <- tryCatch(tabmix(Reaction ~ Dayz + (Days | Subject), lme4::sleepstudy),
                  error = function(e) e)
  expect_s3_class(err, "tabmix_error")
  expect_s3_class(err, "tabmix_UnknownColumnError")
  msg <- conditionMessage(err)
  expect_match(msg, "Dayz", fixed = TRUE)
  expect_match(msg, "did you mean 'Days'", fixed = TRUE)
  expect_false(grepl("Traceback|File \"|py_call_impl|tabmixr\\.errors", msg))
  expect_equal(msg, "column 'Dayz' (used in fixed part 'Dayz') is not in the data; did you mean 'Days'?")
})

test_that("R-side argument errors are plain R errors", {
  expect_error(tabmix("y ~ x", data.frame(y = 1)), "two-sided formula")
  expect_error(tabmix(y ~ x, list(y = 1)), "data frame")
})
