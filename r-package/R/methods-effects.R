# fixef, ranef, VarCorr, coef: the generics are nlme's (lme4 re-exports the
# same functions), so these methods dispatch whichever package is attached last.

#' Fixed-effect estimates
#' @param object A `tabmix` fit.
#' @param ... Unused.
#' @return Named numeric vector.
#' @export
fixef.tabmix <- function(object, ...) object$fixef

#' Conditional modes of the random effects
#'
#' @param object A `tabmix` fit.
#' @param condVar Attach conditional standard deviations as attribute
#'   `"cond_sd"` of each data frame.
#' @param ... Unused.
#' @return A list (class `ranef.tabmix`) of data frames, one per grouping
#'   factor, rows named by level.
#' @export
ranef.tabmix <- function(object, condVar = TRUE, ...) {
  out <- object$ranef
  if (!condVar) out <- lapply(out, function(f) { attr(f, "cond_sd") <- NULL; f })
  structure(out, class = "ranef.tabmix")
}

#' @export
print.ranef.tabmix <- function(x, ...) {
  for (g in names(x)) {
    cat("$", g, "\n", sep = "")
    f <- x[[g]]
    attr(f, "cond_sd") <- NULL
    print(f, ...)
    cat("\n")
  }
  invisible(x)
}

#' Variance components
#'
#' @param x A `tabmix` fit.
#' @param sigma Unused (lme4's argument).
#' @param ... Unused.
#' @return An object of class `VarCorr.tabmix`: a list of covariance
#'   matrices (one per random term) with attributes `stddev`, `correlation`,
#'   and `sc` (residual SD).  `as.data.frame()` gives lme4's columns
#'   `grp, var1, var2, vcov, sdcor`.
#' @export
VarCorr.tabmix <- function(x, sigma = 1, ...) {
  names <- unique_names(vapply(x$terms, `[[`, "", "group"))
  mats <- lapply(x$terms, function(t) {
    m <- t$cov
    s <- sqrt(pmax(diag(m), 0))
    r <- m / outer(s, s)
    r[!is.finite(r)] <- 0
    diag(r) <- 1
    structure(m, stddev = stats::setNames(s, t$columns), correlation = r)
  })
  names(mats) <- names
  structure(mats, sc = if (x$family == "gaussian") x$sigma else NA_real_,
            useSc = x$family == "gaussian", terms = x$terms, frame = x$varcorr,
            class = "VarCorr.tabmix")
}

# lme4's names for a factor in several terms: "g", "g.1", "g.2", ...
unique_names <- function(groups) make.unique(groups)

#' Internal view used by the formatter.
#' @noRd
vc_view <- function(vc) {
  terms <- attr(vc, "terms")
  list(terms = terms, names = names(vc), use_sc = isTRUE(attr(vc, "useSc")), sigma = attr(vc, "sc"))
}

#' @export
format.VarCorr.tabmix <- function(x, digits = max(3L, getOption("digits") - 2L),
                                  comp = "Std.Dev.", ...) {
  utils::capture.output(print(format_varcorr(vc_view(x), digits, comp), quote = FALSE))
}

#' @export
print.VarCorr.tabmix <- function(x, digits = max(3L, getOption("digits") - 2L),
                                 comp = "Std.Dev.", ...) {
  writeLines(format(x, digits = digits, comp = comp))
  invisible(x)
}

#' @export
as.data.frame.VarCorr.tabmix <- function(x, row.names = NULL, optional = FALSE, ...) {
  frame <- attr(x, "frame")
  rownames(frame) <- row.names
  frame
}

#' Per-level coefficients (fixed plus random)
#' @param object A `tabmix` fit.
#' @param ... Unused.
#' @return A list of data frames, one per grouping factor.
#' @export
coef.tabmix <- function(object, ...) object$coef
