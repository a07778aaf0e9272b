# lme4's own generics and helpers: ngrps, isSingular, getME (as tm_get).
# lme4 is only suggested.  tabmixr exports ngrps() and isSingular() that
# hand anything else to lme4, and .onLoad registers the tabmix methods on
# lme4's generics (now or when lme4 loads), so library(lme4) and
# library(tabmixr) work in either order.

#' Number of levels of each grouping factor
#'
#' lme4's `ngrps()`: when lme4 is attached after tabmixr its generic is
#' used, and tabmixr registers its method there; tabmixr's `ngrps()` hands
#' objects it does not know to lme4.
#'
#' @param object A `tabmix` fit (or an lme4 fit).
#' @param ... Passed on.
#' @return A named integer vector.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' ngrps(fit)
#' @export
ngrps <- function(object, ...) UseMethod("ngrps")

#' @rdname ngrps
#' @export
ngrps.tabmix <- function(object, ...) object$ngrps

#' @rdname ngrps
#' @export
ngrps.default <- function(object, ...) {
  if (!requireNamespace("lme4", quietly = TRUE)) {
    stop("ngrps() knows tabmix fits only (install lme4 for its fits)", call. = FALSE)
  }
  lme4::ngrps(object, ...)
}

#' Is the fit singular?
#'
#' As lme4's `isSingular()`: `TRUE` when a diagonal element of a relative
#' covariance factor (`theta` at a lower bound of 0) is below `tol`.  Other
#' objects are handed to lme4.
#'
#' @param x A `tabmix` fit (or an lme4 fit).
#' @param tol Tolerance.
#' @return `TRUE` or `FALSE`.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' isSingular(fit)
#' @export
isSingular <- function(x, tol = 1e-4) {
  if (inherits(x, "tabmix")) {
    lower <- lower_bounds(x)
    return(any(x$theta[lower == 0] < tol))
  }
  if (!requireNamespace("lme4", quietly = TRUE)) {
    stop("isSingular() knows tabmix fits only (install lme4 for its fits)", call. = FALSE)
  }
  lme4::isSingular(x, tol = tol)
}

#' Lower bounds of theta in lme4's order: 0 on diagonals of each Cholesky factor.
#' @noRd
lower_bounds <- function(object) {
  unlist(lapply(object$terms, function(t) {
    q <- length(t$columns)
    idx <- which(lower.tri(diag(q), diag = TRUE), arr.ind = TRUE)
    ifelse(idx[, 1] == idx[, 2], 0, -Inf)
  }))
}

# Registered on lme4's getME generic by .onLoad.
getME.tabmix <- function(object, name, ...) tm_get(object, name)
