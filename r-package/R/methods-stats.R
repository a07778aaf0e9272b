# stats generics.  Only predict(newdata)/predict(re.form), simulate() and
# non-response residuals need Python; they send the stored fit dictionary back.

#' Labels of the fitted rows: the data's row names after na.omit, as R keeps them.
#' @noRd
obs_names <- function(object) {
  if (length(object$row_names) == object$nobs) object$row_names else as.character(seq_len(object$nobs))
}

#' Fitted values and residuals of a tabmix fit
#'
#' @param object A `tabmix` fit.
#' @param type Residual type: `"response"` (pure R), or `"pearson"`,
#'   `"working"`, `"deviance"` (computed by Python).
#' @param ... Unused.
#' @return A numeric vector named by the rows used (R's `na.omit` row names).
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' head(fitted(fit))
#' head(residuals(fit))
#' @name fitted.tabmix
#' @export
fitted.tabmix <- function(object, ...) stats::setNames(object$fitted, obs_names(object))

#' @rdname fitted.tabmix
#' @export
residuals.tabmix <- function(object, type = "response", ...) {
  if (identical(type, "response")) return(stats::setNames(object$residuals, obs_names(object)))
  r <- num(tabmix_call_python(object, "residuals", type = type))
  stats::setNames(r, obs_names(object))
}

#' Predictions from a tabmix fit
#'
#' @param object A `tabmix` fit.
#' @param newdata A data frame, or `NULL` for the fitted rows.
#' @param re.form `NULL` (all random effects), `NA` or `~0` (none), or a
#'   formula naming the random terms to keep, e.g. `~(1 | Subject)`.
#' @param allow.new.levels Predict new grouping levels at the population level.
#' @param ... Unused.
#' @return Named numeric vector.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' head(predict(fit))
#' if (tabmixr_available()) {
#'   predict(fit, data.frame(Days = 0:2, Subject = "308"))
#' }
#' @export
predict.tabmix <- function(object, newdata = NULL, re.form = NULL, allow.new.levels = FALSE, ...) {
  if (is.null(newdata) && is.null(re.form)) return(fitted(object))
  re <- re_form_text(re.form)
  pynew <- if (is.null(newdata)) list(frame = NULL, factors = NULL) else data_for_python(newdata)
  out <- num(tabmix_call_python(object, "predict", newdata = pynew$frame, factors = pynew$factors,
                                re_form = re, allow_new_levels = isTRUE(allow.new.levels)))
  stats::setNames(out, if (is.null(newdata)) obs_names(object) else rownames(newdata))
}

re_form_text <- function(re.form) {
  if (is.null(re.form)) return(NULL)
  if (length(re.form) == 1L && is.atomic(re.form) && is.na(re.form)) return("NA")
  if (inherits(re.form, "formula")) return(deparse_text(re.form))
  if (is.character(re.form) && length(re.form) == 1L) return(re.form)
  stop("re.form must be NULL, NA or a formula such as ~(1 | g)", call. = FALSE)
}

#' Simulate responses from a tabmix fit
#'
#' @param object A `tabmix` fit.
#' @param nsim Number of simulations.
#' @param seed Integer seed (Python's generator; same seed, same draws).
#' @param ... Unused.
#' @return Data frame with columns `sim_1`, ..., `sim_<nsim>`.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' if (tabmixr_available()) head(simulate(fit, nsim = 2, seed = 1))
#' @export
simulate.tabmix <- function(object, nsim = 1, seed = NULL, ...) {
  sims <- tabmix_call_python(object, "simulate", nsim = as.integer(nsim),
                             seed = if (is.null(seed)) NULL else as.integer(seed))
  out <- as.data.frame(lapply(sims, num), check.names = FALSE)
  rownames(out) <- obs_names(object)
  out
}

#' Likelihood, sizes and estimates of a tabmix fit
#'
#' `logLik()` carries `df` and `nobs` attributes, so `AIC()` and `BIC()`
#' work; for a REML fit it is the REML log-likelihood, as in lme4.
#'
#' @param object,x A `tabmix` fit.
#' @param REML Unused (lme4's argument); the fit's own criterion is used.
#' @param ... Unused.
#' @return `logLik`: an object of class `logLik`; `nobs`: an integer;
#'   `sigma`: the residual SD; `vcov`: the fixed-effect covariance matrix;
#'   `formula`: the model formula; `family`: the R family object.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' logLik(fit)
#' AIC(fit)
#' c(nobs(fit), sigma(fit))
#' vcov(fit)
#' formula(fit)
#' @name logLik.tabmix
#' @export
logLik.tabmix <- function(object, REML = NULL, ...) {
  ll <- object$loglik
  if (is.null(ll)) stop("this ", object$method, " fit has no log-likelihood", call. = FALSE)
  structure(ll$value, nobs = ll$nobs, nall = ll$nobs, df = ll$df, class = "logLik")
}

#' @rdname logLik.tabmix
#' @export
nobs.tabmix <- function(object, ...) object$nobs

#' @rdname logLik.tabmix
#' @export
sigma.tabmix <- function(object, ...) object$sigma

#' @rdname logLik.tabmix
#' @export
vcov.tabmix <- function(object, ...) object$vcov

#' @rdname logLik.tabmix
#' @export
formula.tabmix <- function(x, ...) x$formula

#' @rdname logLik.tabmix
#' @export
family.tabmix <- function(object, ...) {
  fun <- tryCatch(get(object$family, mode = "function", envir = asNamespace("stats")),
                  error = function(e) NULL)
  if (is.null(fun)) stop("family '", object$family, "' has no R family object", call. = FALSE)
  link <- if (is.null(object$link)) NULL else as.character(object$link)
  if (is.null(link)) fun() else fun(link = link)
}
