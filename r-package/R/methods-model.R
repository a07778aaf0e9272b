# model.frame, model.matrix and confint: pure R, from what the fit stores.

#' Model frame and model matrices of a tabmix fit
#'
#' `model.frame()` gives the variables of the formula on the rows used (the
#' data's row names kept, as with `na.omit`), plus `(weights)` and
#' `(offset)` columns when given.  `model.matrix()` gives the fixed-effects
#' matrix `X` (`type = "fixed"`) or the random-effects matrix `Z`
#' (`type = "random"`; sparse when the Matrix package is installed), as
#' lme4's `model.matrix.merMod` does.
#'
#' @param formula,object A `tabmix` fit.
#' @param type `"fixed"` or `"random"`.
#' @param ... Unused.
#' @return A data frame (`model.frame`) or a matrix (`model.matrix`).
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' head(model.frame(fit))
#' head(model.matrix(fit))
#' @name model.frame.tabmix
#' @export
model.frame.tabmix <- function(formula, ...) {
  fit <- formula
  frame <- fit$frame
  if (is.null(frame)) stop("this tabmix object stores no model frame; refit it with tabmix()", call. = FALSE)
  if (!is.null(fit$weights)) frame[["(weights)"]] <- fit$weights
  if (!is.null(fit$offset)) frame[["(offset)"]] <- fit$offset
  frame
}

#' @rdname model.frame.tabmix
#' @export
model.matrix.tabmix <- function(object, type = c("fixed", "random"), ...) {
  type <- match.arg(type)
  if (type == "random") return(tm_get(object, "Z"))
  X <- object$X
  if (is.null(X)) stop("this tabmix object stores no model matrix; refit it with tabmix()", call. = FALSE)
  rownames(X) <- obs_names(object)
  X
}

#' Wald confidence intervals for a tabmix fit
#'
#' Normal (Wald) intervals for the fixed effects; the rows of the variance
#' parameters (`.sig01`, ..., `.sigma`) are `NA`, as in lme4's
#' `confint(method = "Wald")`.  Profile and bootstrap intervals are not
#' implemented.
#'
#' @param object A `tabmix` fit.
#' @param parm `"beta_"` (fixed effects), `"theta_"` (variance parameters),
#'   parameter names or indices; all by default.
#' @param level Confidence level.
#' @param method `"Wald"`; `"profile"` and `"boot"` raise an error.
#' @param ... Unused.
#' @return A matrix with columns named like `"2.5 %"`, `"97.5 %"`.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' confint(fit)
#' confint(fit, parm = "beta_", level = 0.9)
#' @export
confint.tabmix <- function(object, parm, level = 0.95, method = c("Wald", "profile", "boot"), ...) {
  method <- match.arg(method)
  if (method != "Wald") {
    stop("confint(method = \"", method, "\") is not implemented for tabmix fits; only Wald ",
         "intervals are (method = \"Wald\")", call. = FALSE)
  }
  if (!is.numeric(level) || length(level) != 1L || level <= 0 || level >= 1) {
    stop("level must be a single number strictly between 0 and 1", call. = FALSE)
  }
  a <- (1 - level) / 2
  cols <- paste(format(100 * c(a, 1 - a), trim = TRUE, scientific = FALSE, digits = 3), "%")
  z <- stats::qnorm(1 - a)
  beta <- object$fixef
  se <- sqrt(diag(object$vcov))
  fixed <- cbind(beta - z * se, beta + z * se)
  sig_names <- sprintf(".sig%02d", seq_along(object$theta))
  if (object$family == "gaussian") sig_names <- c(sig_names, ".sigma")
  sig <- matrix(NA_real_, length(sig_names), 2L)
  table <- rbind(sig, fixed)
  dimnames(table) <- list(c(sig_names, names(beta)), cols)
  if (missing(parm)) return(table)
  if (identical(parm, "beta_")) return(table[names(beta), , drop = FALSE])
  if (identical(parm, "theta_")) return(table[sig_names, , drop = FALSE])
  if (is.numeric(parm)) parm <- rownames(table)[parm]
  unknown <- setdiff(parm, rownames(table))
  if (length(unknown) || anyNA(parm)) {
    stop("unknown parameter(s) ", paste(unknown, collapse = ", "), "; known: ",
         paste(rownames(table), collapse = ", "), call. = FALSE)
  }
  table[parm, , drop = FALSE]
}
