# fixef, ranef, VarCorr, coef: the generics are nlme's (lme4 and brms use the
# same functions), so these methods dispatch whichever package is attached last.

#' Fixed effects, random effects, variance components and coefficients
#'
#' `fixef()` gives the fixed-effect estimates; `ranef()` the conditional
#' modes per grouping factor, as lme4's `ranef.mer` (a list of data frames
#' with attribute `postVar`, the `q x q x levels` conditional covariances,
#' and `cond_sd`, their square-rooted diagonals); `as.data.frame()` of it
#' gives lme4's columns `grpvar, term, grp, condval, condsd`.  `VarCorr()`
#' prints like lme4's and `as.data.frame()` of it gives lme4's columns
#' `grp, var1, var2, vcov, sdcor`.  `coef()` gives per-level coefficients,
#' fixed plus random, as lme4's `coef.merMod`.
#'
#' @param object,x A `tabmix` fit (or, for the methods, the object to print
#'   or convert).
#' @param condVar Attach the conditional covariances (`postVar`, `cond_sd`).
#' @param sigma Unused (lme4's argument).
#' @param row.names,optional Unused (`as.data.frame` arguments).
#' @param digits Significant digits.
#' @param comp Columns to print: `"Std.Dev."` and/or `"Variance"`.
#' @param ... Unused.
#' @return `fixef`: named numeric vector; `ranef`: list of class
#'   `ranef.tabmix`; `VarCorr`: list of class `VarCorr.tabmix` (covariance
#'   matrices with attributes `stddev`, `correlation`; attribute `sc` the
#'   residual SD); `coef`: list of data frames.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' fixef(fit)
#' head(ranef(fit)$Subject)
#' head(as.data.frame(ranef(fit)))
#' VarCorr(fit)
#' as.data.frame(VarCorr(fit))
#' head(coef(fit)$Subject)
#' @name tabmix-effects
NULL

#' @rdname tabmix-effects
#' @method fixef tabmix
#' @export
fixef.tabmix <- function(object, ...) object$fixef

#' @rdname tabmix-effects
#' @method ranef tabmix
#' @export
ranef.tabmix <- function(object, condVar = TRUE, ...) {
  out <- object$ranef
  if (!condVar) {
    out <- lapply(out, function(f) {
      attr(f, "cond_sd") <- NULL
      attr(f, "postVar") <- NULL
      f
    })
  }
  structure(out, class = "ranef.tabmix")
}

#' @rdname tabmix-effects
#' @export
print.ranef.tabmix <- function(x, ...) {
  for (g in names(x)) {
    cat("$", g, "\n", sep = "")
    f <- x[[g]]
    attr(f, "cond_sd") <- NULL
    attr(f, "postVar") <- NULL
    print(f, ...)
    cat("\n")
  }
  invisible(x)
}

#' @rdname tabmix-effects
#' @export
as.data.frame.ranef.tabmix <- function(x, row.names = NULL, optional = FALSE, ...) {
  rows <- lapply(names(x), function(g) {
    f <- x[[g]]
    sd <- attr(f, "cond_sd")
    data.frame(grpvar = g, term = factor(rep(names(f), each = nrow(f)), levels = names(f)),
               grp = factor(rep(rownames(f), times = ncol(f)), levels = rownames(f)),
               condval = unlist(f, use.names = FALSE),
               condsd = if (is.null(sd)) NA_real_ else unlist(sd, use.names = FALSE),
               stringsAsFactors = FALSE)
  })
  do.call(rbind, rows)
}

#' @rdname tabmix-effects
#' @method VarCorr tabmix
#' @export
VarCorr.tabmix <- function(x, sigma = 1, ...) {
  names <- make.unique(vapply(x$terms, `[[`, "", "group"))
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

#' Internal view used by the formatter.
#' @noRd
vc_view <- function(vc) {
  terms <- attr(vc, "terms")
  list(terms = terms, names = names(vc), use_sc = isTRUE(attr(vc, "useSc")), sigma = attr(vc, "sc"))
}

#' @rdname tabmix-effects
#' @export
format.VarCorr.tabmix <- function(x, digits = max(3L, getOption("digits") - 2L),
                                  comp = "Std.Dev.", ...) {
  utils::capture.output(print(format_varcorr(vc_view(x), digits, comp), quote = FALSE))
}

#' @rdname tabmix-effects
#' @export
print.VarCorr.tabmix <- function(x, digits = max(3L, getOption("digits") - 2L),
                                 comp = "Std.Dev.", ...) {
  writeLines(format(x, digits = digits, comp = comp))
  invisible(x)
}

#' @rdname tabmix-effects
#' @export
as.data.frame.VarCorr.tabmix <- function(x, row.names = NULL, optional = FALSE, ...) {
  frame <- attr(x, "frame")
  rownames(frame) <- row.names
  frame
}

#' @rdname tabmix-effects
#' @export
coef.tabmix <- function(object, ...) object$coef
