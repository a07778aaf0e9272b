# print() and summary(): lme4's layout.  format() makes the text, print()
# writes it and returns the object invisibly.  Everything here is pure R.

capture <- function(expr) utils::capture.output(expr)

#' lme4's formatVC: the random-effects table as a character matrix.
#' @noRd
format_varcorr <- function(vc, digits, comp = "Std.Dev.") {
  stddev <- lapply(vc$terms, function(t) sqrt(pmax(diag(t$cov), 0)))
  groups <- vc$names
  if (vc$use_sc) {
    stddev <- c(stddev, list(vc$sigma))
    groups <- c(groups, "Residual")
  }
  lens <- lengths(stddev)
  nr <- sum(lens)
  c_nms <- c("Groups", "Name", comp)
  m <- array("", c(nr, length(c_nms)), list(rep.int("", nr), c_nms))
  m[1L + cumsum(lens) - lens, "Groups"] <- groups
  m[, "Name"] <- c(unlist(lapply(vc$terms, `[[`, "columns")), if (vc$use_sc) "")
  sds <- unlist(stddev)
  if ("Variance" %in% comp) m[, "Variance"] <- format(sds^2, digits = digits)
  if ("Std.Dev." %in% comp) m[, "Std.Dev."] <- format(sds, digits = digits)
  if (any(lens > 1L)) {
    maxlen <- max(lens)
    corr <- do.call(rbind, lapply(vc$terms, function(t) {
      s <- sqrt(pmax(diag(t$cov), 0))
      r <- t$cov / outer(s, s)
      r[!is.finite(r)] <- 0
      dig <- max(2L, digits - 2L)
      cc <- format(round(r, dig), nsmall = dig)
      cc[!lower.tri(cc)] <- ""
      if (nrow(cc) >= maxlen) return(cc)
      cbind(cc, matrix("", nrow(cc), maxlen - nrow(cc)))
    }))[, -maxlen, drop = FALSE]
    if (nrow(corr) < nrow(m)) corr <- rbind(corr, matrix("", nrow(m) - nrow(corr), ncol(corr)))
    colnames(corr) <- c("Corr", rep.int("", max(0L, ncol(corr) - 1L)))
    m <- cbind(m, corr)
  }
  m
}

#' Print and summarize a tabmix fit
#'
#' `print()` shows lme4's short layout (criterion, random effects, fixed
#' effects); `summary()` keeps the coefficient table, variance components
#' and the full text in lme4's `summary.merMod` layout (with `Weights:` and
#' `Offset:` lines when the fit has them), which its `print()` writes.
#' `format()` returns the lines; nothing here needs Python.
#'
#' @param x,object A `tabmix` fit or its summary.
#' @param digits Significant digits.
#' @param ... Unused.
#' @return `format`: character lines; `print`: `x`, invisibly; `summary`:
#'   an object of class `summary.tabmix` with the coefficient table
#'   (`coefficients`), `varcor`, `logLik`, `sigma`, `ngrps`, `nobs` and the
#'   formatted text (`text`).
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' fit
#' summary(fit)
#' coef(summary(fit))
#' @name summary.tabmix
#' @export
format.tabmix <- function(x, digits = max(3L, getOption("digits") - 3L), ...) {
  out <- title_lines(x)
  if (x$reml) {
    out <- c(out, paste("REML criterion at convergence:", format(round(x$criterion, digits))))
  } else {
    ll <- logLik(x)
    tab <- round(c(AIC = stats::AIC(ll), BIC = stats::BIC(ll), logLik = as.numeric(ll),
                   deviance = x$criterion, df.resid = x$nobs - attr(ll, "df")), digits)
    cells <- format(tab)
    cells["df.resid"] <- format(tab["df.resid"])
    out <- c(out, capture(print(cells, quote = FALSE)))
  }
  out <- c(out, "Random effects:",
           capture(print(format_varcorr(vc_view(VarCorr(x)), digits), quote = FALSE)),
           sprintf("Number of obs: %d, groups:  %s", x$nobs,
                   paste(paste(names(x$ngrps), x$ngrps, sep = ", "), collapse = "; ")))
  if (length(x$fixef)) {
    out <- c(out, "Fixed Effects:",
             capture(print.default(format(x$fixef, digits = digits), print.gap = 2L, quote = FALSE)))
  } else {
    out <- c(out, "No fixed effect coefficients")
  }
  if (x$singular) out <- c(out,
                           "boundary (singular) fit: see help('isSingular')")
  out
}

#' @rdname summary.tabmix
#' @export
print.tabmix <- function(x, digits = max(3L, getOption("digits") - 3L), ...) {
  writeLines(format(x, digits = digits, ...))
  invisible(x)
}

#' @rdname summary.tabmix
#' @export
summary.tabmix <- function(object, ...) {
  se <- sqrt(diag(object$vcov))
  coefs <- cbind(Estimate = object$fixef, `Std. Error` = se, `t value` = object$fixef / se)
  structure(list(coefficients = coefs, varcor = VarCorr(object), logLik = logLik(object),
                 sigma = object$sigma, ngrps = object$ngrps, nobs = object$nobs,
                 method = object$method, call = object$call,
                 text = if (formats_in_r(object)) format_summary_lines(object) else object$summary_text),
            class = "summary.tabmix")
}

#' @rdname summary.tabmix
#' @export
format.summary.tabmix <- function(x, ...) {
  if (length(x$text) == 1L) strsplit(x$text, "\n", fixed = TRUE)[[1L]] else x$text
}

#' @rdname summary.tabmix
#' @export
print.summary.tabmix <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}
