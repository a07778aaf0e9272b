library(testthat)
library(tabmixr)
test_check("tabmixr")
