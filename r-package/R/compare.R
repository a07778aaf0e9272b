# compare_fits(): fixed effects, SDs/correlations, residual SD, logLik and fit
# time of tabmix, lme4 (lmerMod, glmerMod) and brms (brmsfit) fits of one
# model, side by side.  Each class has one extractor returning the same
# named pieces; the table is their union.

#' Compare fits of one model side by side
#'
#' Puts the estimates of any mix of `tabmix`, `lmerMod`, `glmerMod` and
#' `brmsfit` fits in one table: fixed effects, random-effect SDs and
#' correlations (rows named `sd(group: column)`, `cor(group: a, b)`), the
#' residual SD, the log-likelihood and the fit time.  brms fits give
#' posterior means (`fixef()`, `VarCorr()` estimates) and brms's `Intercept`
#' is matched to `(Intercept)`.  Their log-likelihood, the posterior mean of
#' the summed pointwise `log_lik()`, is conditional on the group effects, so
#' it gets a row of its own (`logLik | b`) instead of sitting next to lme4's
#' and tabmix's marginal `logLik`, which integrates them out.  A fit time is taken from the
#' fit when it records one (tabmix: the whole R call; brms: Stan's elapsed
#' time) or from an attribute `"fit_time"` (seconds) set by the user.
#'
#' @param ... Fits, optionally named (`tabmix = fit1, lme4 = fit2`).
#' @param digits Significant digits used when printing.
#' @return A data frame of class `tabmix_comparison` with columns `section`
#'   (`"fixed"`, `"random"`, `"fit"`), `term`, and one numeric column per
#'   fit; `NA` where a fit lacks a row.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' compare_fits(tabmix = fit)
#' if (requireNamespace("lme4", quietly = TRUE)) {
#'   ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
#'   compare_fits(tabmix = fit, lme4 = ref)
#' }
#' @export
compare_fits <- function(..., digits = 5L) {
  fits <- list(...)
  if (!length(fits)) stop("compare_fits() needs at least one fit", call. = FALSE)
  labels <- names(fits)
  if (is.null(labels)) labels <- rep("", length(fits))
  typed <- vapply(as.list(substitute(list(...)))[-1L], deparse_text, "")
  labels[!nzchar(labels)] <- typed[!nzchar(labels)]
  labels <- make.unique(labels)
  pieces <- lapply(seq_along(fits), function(i) fit_pieces(fits[[i]], labels[[i]]))
  keys <- unique(do.call(rbind, lapply(pieces, function(p) p[c("section", "term")])))
  order_sec <- order(match(keys$section, c("fixed", "random", "fit")))
  keys <- keys[order_sec, , drop = FALSE]
  out <- data.frame(section = keys$section, term = keys$term, stringsAsFactors = FALSE)
  for (i in seq_along(fits)) {
    p <- pieces[[i]]
    out[[labels[[i]]]] <- p$value[match(paste(out$section, out$term), paste(p$section, p$term))]
  }
  rownames(out) <- NULL
  structure(out, digits = digits, class = c("tabmix_comparison", "data.frame"))
}

#' @export
format.tabmix_comparison <- function(x, digits = attr(x, "digits"), ...) {
  if (is.null(digits)) digits <- 5L
  values <- as.data.frame(unclass(x))[, -(1:2), drop = FALSE]
  cells <- vapply(values, function(v) {
    s <- formatC(v, digits = digits, format = "g", flag = "#")
    s <- sub("\\.$", "", s)
    s[is.na(v)] <- ""
    s
  }, character(nrow(values)))
  cells <- matrix(cells, nrow(values), dimnames = list(x$term, names(values)))
  titles <- c(fixed = "Fixed effects:", random = "Random effects (SD, correlation):",
              fit = "Fit:")
  out <- character()
  for (sec in unique(x$section)) {
    rows <- x$section == sec
    out <- c(out, titles[[sec]],
             utils::capture.output(print(cells[rows, , drop = FALSE], quote = FALSE, right = TRUE)))
  }
  out
}

#' @export
print.tabmix_comparison <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}

piece_frame <- function(section, term, value) {
  data.frame(section = rep(section, length(term)), term = as.character(term),
             value = as.numeric(value), stringsAsFactors = FALSE)
}

#' Rows "sd(g: a)" and "cor(g: a, b)" from lme4's as.data.frame(VarCorr) columns.
#' @noRd
varcorr_pieces <- function(vc) {
  vc <- vc[vc$grp != "Residual", , drop = FALSE]
  term <- ifelse(is.na(vc$var2), sprintf("sd(%s: %s)", vc$grp, vc$var1),
                 sprintf("cor(%s: %s, %s)", vc$grp, vc$var1, vc$var2))
  piece_frame("random", term, vc$sdcor)
}

#' One fit's rows: section, term, value.
#' @noRd
fit_pieces <- function(fit, label) {
  if (inherits(fit, "tabmix")) return(tabmix_pieces(fit))
  if (inherits(fit, "merMod")) return(lme4_pieces(fit))
  if (inherits(fit, "brmsfit")) return(brms_pieces(fit))
  stop("compare_fits() takes tabmix, lmerMod, glmerMod and brmsfit objects; '", label,
       "' is a ", class(fit)[1L], call. = FALSE)
}

fit_rows <- function(sigma, loglik, seconds, loglik_term = "logLik") {
  piece_frame("fit", c("sigma", loglik_term, "fit time (s)"), c(sigma, loglik, seconds))
}

user_time <- function(fit) {
  t <- attr(fit, "fit_time")
  if (is.numeric(t) && length(t) == 1L) t else NA_real_
}

tabmix_pieces <- function(fit) {
  ll <- if (is.null(fit$loglik)) NA_real_ else fit$loglik$value
  seconds <- user_time(fit)
  if (is.na(seconds)) seconds <- if (!is.null(fit$elapsed) && !is.na(fit$elapsed)) fit$elapsed else fit$fit_time
  if (is.null(seconds)) seconds <- NA_real_
  rbind(piece_frame("fixed", names(fit$fixef), fit$fixef), varcorr_pieces(fit$varcorr),
        fit_rows(if (fit$family == "gaussian") fit$sigma else NA_real_, ll, seconds))
}

lme4_pieces <- function(fit) {
  if (!requireNamespace("lme4", quietly = TRUE)) stop("lme4 is needed to read lme4 fits", call. = FALSE)
  beta <- lme4::fixef(fit)
  vc <- as.data.frame(lme4::VarCorr(fit))
  sigma <- if (inherits(fit, "lmerMod")) stats::sigma(fit) else NA_real_
  rbind(piece_frame("fixed", names(beta), beta), varcorr_pieces(vc),
        fit_rows(sigma, as.numeric(stats::logLik(fit)), user_time(fit)))
}

#' brms fits through brms's documented accessors: fixef() and VarCorr()
#' (posterior summaries, column "Estimate"), logLik() (draws x observations).
#' @noRd
brms_pieces <- function(fit) {
  has_method <- function(generic) {
    any(vapply(class(fit), function(cl) !is.null(utils::getS3method(generic, cl, optional = TRUE)), NA))
  }
  if (!has_method("fixef") && !requireNamespace("brms", quietly = TRUE)) {
    stop("brms is needed to read brmsfit objects", call. = FALSE)
  }
  brms_name <- function(x) ifelse(x == "Intercept", "(Intercept)", x)
  fe <- nlme::fixef(fit)
  rows <- list(piece_frame("fixed", brms_name(rownames(fe)), fe[, "Estimate"]))
  vc <- nlme::VarCorr(fit)
  sigma <- NA_real_
  for (g in names(vc)) {
    sd <- vc[[g]]$sd
    if (g == "residual__") {
      sigma <- sd[1L, "Estimate"]
      next
    }
    cols <- brms_name(rownames(sd))
    rows <- c(rows, list(piece_frame("random", sprintf("sd(%s: %s)", g, cols), sd[, "Estimate"])))
    cor <- vc[[g]]$cor
    if (!is.null(cor) && length(cols) > 1L) {
      est <- matrix(cor[, "Estimate", ], length(cols), length(cols))
      low <- lower.tri(est)
      rows <- c(rows, list(piece_frame("random", sprintf("cor(%s: %s, %s)", g, cols[col(est)[low]],
                                                         cols[row(est)[low]]), est[low])))
    }
  }
  ll <- tryCatch(mean(rowSums(as.matrix(stats::logLik(fit)))), error = function(e) NA_real_)
  seconds <- user_time(fit)
  if (is.na(seconds) && requireNamespace("rstan", quietly = TRUE) && inherits(fit$fit, "stanfit")) {
    seconds <- tryCatch(sum(rstan::get_elapsed_time(fit$fit)), error = function(e) NA_real_)
  }
  do.call(rbind, c(rows, list(fit_rows(sigma, ll, seconds, loglik_term = "logLik | b"))))
}
