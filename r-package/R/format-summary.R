# lme4's summary layout, made in R from the stored numbers (likelihood fits
# of the exact engine).  Fits of other methods keep the text Python made.

#' Does this fit print its summary from R (exact engine, Gaussian)?
#' @noRd
formats_in_r <- function(x) x$method %in% c("reml", "ml") && identical(x$family, "gaussian")

#' Title and call lines: lme4's .prt.methTit and .prt.call.
#' @noRd
title_lines <- function(x) {
  if (!formats_in_r(x)) return(header_lines(x))
  how <- if (x$reml) "REML" else "maximum likelihood "
  out <- c(sprintf("Linear mixed model fit by %s ['lmerMod']", how),
           paste("Formula:", deparse_text(x$formula)))
  named <- c(`   Data:` = x$data_name, `Weights:` = x$weights_name, ` Offset:` = x$offset_name)
  named <- named[!is.na(named) & nzchar(named)]
  if (length(named)) out <- c(out, paste(names(named), named))
  subset <- if (is.null(x$call)) NULL else x$call$subset
  if (!is.null(subset)) out <- c(out, paste(" Subset:", deparse_text(subset)))
  out
}

#' Header lines (title, Formula, Data, ...) from the stored summary text.
#' @noRd
header_lines <- function(x) {
  lines <- strsplit(x$summary_text, "\n", fixed = TRUE)[[1L]]
  end <- which(lines == "")[1L]
  if (is.na(end)) end <- length(lines) + 1L
  lines[seq_len(end - 1L)]
}

#' Criterion lines: "REML criterion at convergence: ..." or the ML table.
#' @noRd
criterion_lines <- function(x, digits) {
  if (x$reml) return(paste("REML criterion at convergence:", round(x$criterion, digits)))
  ll <- logLik(x)
  tab <- round(c(AIC = stats::AIC(ll), BIC = stats::BIC(ll), logLik = as.numeric(ll),
                 deviance = x$criterion, df.resid = x$nobs - attr(ll, "df")), digits)
  cells <- format(tab)
  cells["df.resid"] <- format(tab["df.resid"])
  capture(print(cells, quote = FALSE))
}

#' Pearson residuals divided by sigma (lme4's residuals(fit, "pearson", scaled = TRUE)).
#' @noRd
scaled_residuals <- function(x) {
  w <- if (is.null(x$weights)) 1 else x$weights
  sqrt(w) * x$residuals / x$sigma
}

#' Scaled-residual quantiles: lme4's .prt.resids.
#' @noRd
residual_lines <- function(x, digits) {
  q <- stats::quantile(scaled_residuals(x), na.rm = TRUE)
  q <- stats::setNames(zapsmall(q, digits + 1L), c("Min", "1Q", "Median", "3Q", "Max"))
  c("Scaled residuals: ", capture(print(q, digits = digits)), "")
}

groups_line <- function(x) {
  sprintf("Number of obs: %d, groups:  %s", x$nobs,
          paste(paste(names(x$ngrps), x$ngrps, sep = ", "), collapse = "; "))
}

#' "Correlation of Fixed Effects:" with lme4's abbreviated names.
#' @noRd
correlation_lines <- function(vcov, names) {
  p <- length(names)
  if (p < 2L) return(character())
  corr <- stats::cov2cor(vcov)
  cells <- matrix(format(round(corr, 3L), nsmall = 3L), p, p,
                  dimnames = list(abbreviate(names, minlength = 11L), abbreviate(names, minlength = 6L)))
  cells[!lower.tri(cells)] <- ""
  c("", "Correlation of Fixed Effects:", capture(print(cells[-1L, -p, drop = FALSE], quote = FALSE)))
}

#' Optimizer notes: lme4's .prt.warn (convergence code, then the messages).
#' @noRd
note_lines <- function(x) {
  opt <- x$optimizer
  # lme4 reports dropped rows through na.action, not in the summary.
  messages <- grep("deleted due to missingness", x$messages, value = TRUE, invert = TRUE)
  converged <- is.null(opt$converged) || isTRUE(opt$converged)
  if (converged && !length(messages)) return(character())
  name <- if (is.null(opt$optimizer) || !nzchar(opt$optimizer)) "unknown" else opt$optimizer
  c(sprintf("optimizer (%s) convergence code: %d (%s)", name, if (converged) 0L else 1L,
            if (converged) "OK" else "failed to converge"), messages)
}

#' The summary text in lme4's print(summary(fit)) layout.
#' @noRd
format_summary_lines <- function(x, digits = max(3L, getOption("digits") - 3L)) {
  out <- c(title_lines(x), "", criterion_lines(x, 1L), "", residual_lines(x, digits),
           "Random effects:",
           capture(print(format_varcorr(vc_view(VarCorr(x)), digits, c("Variance", "Std.Dev.")),
                         quote = FALSE, digits = digits)),
           groups_line(x))
  if (length(x$fixef)) {
    se <- sqrt(diag(x$vcov))
    coefs <- cbind(Estimate = x$fixef, `Std. Error` = se, `t value` = x$fixef / se)
    out <- c(out, "", "Fixed effects:",
             capture(stats::printCoefmat(coefs, digits = digits, signif.stars = FALSE)),
             if (length(x$fixef) <= 12L) correlation_lines(x$vcov, names(x$fixef)))
  }
  c(out, note_lines(x))
}
