# anova(): likelihood-ratio tests between nested fits, lme4's table layout.
# Mixes tabmix fits with lme4 fits (lmerMod/glmerMod); REML fits are refitted
# by ML first, as lme4 does ("refitting model(s) with ML (instead of REML)").

#' Likelihood-ratio tests between tabmix (and lme4) fits
#'
#' As lme4's `anova.merMod()` for several models: the fits are ordered by
#' their number of parameters, REML fits are refitted by maximum likelihood
#' (tabmix fits through Python with the stored model frame, lme4 fits with
#' `lme4::refitML()`), and the table has lme4's columns `npar, AIC, BIC,
#' logLik, deviance, Chisq, Df, Pr(>Chisq)`.
#'
#' With a single fit, the sequential F table of the fixed-effect terms
#' (lme4's `anova()` of one model: `npar, Sum Sq, Mean Sq, F value`).
#'
#' @param object A `tabmix` fit.
#' @param ... Further fits (`tabmix`, `lmerMod`, `glmerMod`).
#' @param refit Refit REML fits by ML before comparing (lme4's default).
#' @param model.names Names for the rows; by default the arguments as typed.
#' @return An object of class `c("anova", "data.frame")` with a heading
#'   naming the data and the models.
#' @examples
#' if (tabmixr_available() && requireNamespace("lme4", quietly = TRUE)) {
#'   m0 <- tabmix(Reaction ~ Days + (1 | Subject), lme4::sleepstudy, method = "ml")
#'   m1 <- tabmix(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, method = "ml")
#'   anova(m0, m1)
#' }
#' @export
anova.tabmix <- function(object, ..., refit = TRUE, model.names = NULL) {
  mods <- c(list(object), list(...))
  if (length(mods) < 2L) return(anova_single(object))
  ok <- vapply(mods, function(m) inherits(m, c("tabmix", "merMod")), NA)
  if (!all(ok)) stop("anova() compares tabmix and lme4 (merMod) fits only; argument ",
                     which(!ok)[1L], " is a ", class(mods[[which(!ok)[1L]]])[1L], call. = FALSE)
  if (is.null(model.names)) {
    args <- as.list(match.call(expand.dots = FALSE)$...)
    model.names <- c(deparse_text(substitute(object)), vapply(args, deparse_text, ""))
  }
  if (length(model.names) != length(mods) || anyDuplicated(model.names)) {
    stop("model.names must give one distinct name per model", call. = FALSE)
  }
  names(mods) <- model.names
  nobs_vec <- vapply(mods, stats::nobs, 1)
  if (length(unique(nobs_vec)) > 1L) {
    stop("models were not all fitted to the same size of dataset (nobs: ",
         paste(nobs_vec, collapse = ", "), ")", call. = FALSE)
  }
  data_names <- vapply(mods, fit_data_name, "")
  if (length(unique(data_names)) > 1L) {
    stop("all models must be fit to the same data object (got ",
         paste(unique(data_names), collapse = ", "), ")", call. = FALSE)
  }
  reml <- vapply(mods, fit_is_reml, NA)
  if (refit && any(reml)) {
    message("refitting model(s) with ML (instead of REML)")
    mods[reml] <- lapply(mods[reml], refit_ml)
  } else if (any(reml) && !all(reml)) {
    warning("some models fit with REML = TRUE, some not", call. = FALSE)
  }
  lls <- lapply(mods, stats::logLik)
  npar <- vapply(lls, function(l) as.numeric(attr(l, "df")), 1)
  ord <- order(npar)
  mods <- mods[ord]
  lls <- lls[ord]
  npar <- npar[ord]
  llk <- vapply(lls, as.numeric, 1)
  chisq <- 2 * pmax(0, c(NA, diff(llk)))
  df <- c(NA, diff(npar))
  table <- data.frame(npar = npar, AIC = vapply(lls, stats::AIC, 1), BIC = vapply(lls, stats::BIC, 1),
                      logLik = llk, deviance = -2 * llk, Chisq = chisq, Df = df,
                      `Pr(>Chisq)` = ifelse(df == 0, NA, stats::pchisq(chisq, df, lower.tail = FALSE)),
                      row.names = names(mods), check.names = FALSE)
  forms <- vapply(mods, function(m) deparse_text(stats::formula(m)), "")
  structure(table, heading = c(paste("Data:", data_names[[1L]]), "Models:",
                               paste(names(mods), forms, sep = ": ")),
            class = c("anova", "data.frame"))
}

fit_data_name <- function(m) {
  if (inherits(m, "tabmix")) return(if (is.na(m$data_name)) "" else m$data_name)
  data <- stats::getCall(m)$data
  if (is.null(data)) "" else deparse_text(data)
}

fit_is_reml <- function(m) {
  if (inherits(m, "tabmix")) return(isTRUE(m$reml))
  inherits(m, "lmerMod") && lme4::isREML(m)
}

#' The ML refit of a REML fit: lme4's refitML, or tabmix() with method "ml"
#' on the stored model frame.
#' @noRd
refit_ml <- function(m) {
  if (!inherits(m, "tabmix")) return(lme4::refitML(m))
  frame <- m$frame
  if (is.null(frame)) stop("this REML tabmix fit stores no model frame to refit by ML; ",
                           "refit it with tabmix(..., method = \"ml\")", call. = FALSE)
  args <- list(m$formula, frame, family = family.tabmix(m), method = "ml")
  if (!is.null(m$weights)) {
    frame[[".tabmix_weights"]] <- m$weights
    args$weights <- ".tabmix_weights"
  }
  if (!is.null(m$offset)) {
    frame[[".tabmix_offset"]] <- m$offset
    args$offset <- ".tabmix_offset"
  }
  args[[2L]] <- frame
  ml <- do.call(tabmix, args)
  ml$data_name <- m$data_name
  ml
}

#' The fixed part of a formula: the terms without a bar `|` (lme4's nobars).
#' @noRd
fixed_formula <- function(formula) {
  tt <- stats::terms(formula)
  labels <- attr(tt, "term.labels")
  labels <- labels[!grepl("|", labels, fixed = TRUE)]
  intercept <- attr(tt, "intercept") == 1L
  if (!length(labels)) return(if (intercept) ~1 else ~0)
  stats::reformulate(labels, intercept = intercept)
}

#' Sequential F table of one fit: the squared entries of R_X beta summed
#' over the columns of each term (R_X' R_X = sigma^2 vcov^-1), over sigma^2.
#' @noRd
anova_single <- function(object) {
  if (is.null(object$frame)) {
    stop("anova() of a single fit needs the stored model frame; refit it with tabmix()", call. = FALSE)
  }
  X <- stats::model.matrix(fixed_formula(object$formula), object$frame)
  if (!identical(colnames(X), names(object$fixef))) {
    stop("anova(): cannot match the fixed-effect columns to the formula's terms (",
         paste(setdiff(names(object$fixef), colnames(X)), collapse = ", "), ")", call. = FALSE)
  }
  assign <- attr(X, "assign")
  labels <- attr(stats::terms(fixed_formula(object$formula)), "term.labels")
  RX <- chol(object$sigma^2 * solve(object$vcov))
  ss <- as.vector(RX %*% object$fixef)^2
  keep <- assign > 0L
  ss <- vapply(split(ss[keep], assign[keep]), sum, 1)
  df <- as.vector(table(assign[keep]))
  ms <- ss / df
  table <- data.frame(npar = df, `Sum Sq` = ss, `Mean Sq` = ms, `F value` = ms / object$sigma^2,
                      row.names = labels[unique(assign[keep])], check.names = FALSE)
  structure(table, heading = "Analysis of Variance Table", class = c("anova", "data.frame"))
}
