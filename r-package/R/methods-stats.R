# stats generics.  Only predict(newdata)/predict(re.form) and simulate()
# need Python; they send the stored fit dictionary back to it.

obs_names <- function(object) as.character(seq_len(object$nobs))

#' @export
fitted.tabmix <- function(object, ...) stats::setNames(object$fitted, obs_names(object))

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
#' @export
predict.tabmix <- function(object, newdata = NULL, re.form = NULL, allow.new.levels = FALSE, ...) {
  if (is.null(newdata) && is.null(re.form)) return(fitted(object))
  re <- re_form_text(re.form)
  pynew <- if (is.null(newdata)) NULL else reticulate::r_to_py(as.data.frame(newdata))
  out <- num(tabmix_call_python(object, "predict", newdata = pynew, re_form = re,
                                allow_new_levels = isTRUE(allow.new.levels)))
  stats::setNames(out, if (is.null(newdata)) obs_names(object) else rownames(newdata))
}

re_form_text <- function(re.form) {
  if (is.null(re.form)) return(NULL)
  if (length(re.form) == 1L && is.atomic(re.form) && is.na(re.form)) return("NA")
  if (inherits(re.form, "formula")) return(paste(deparse(re.form, width.cutoff = 500L), collapse = " "))
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
#' @export
simulate.tabmix <- function(object, nsim = 1, seed = NULL, ...) {
  sims <- tabmix_call_python(object, "simulate", nsim = as.integer(nsim),
                             seed = if (is.null(seed)) NULL else as.integer(seed))
  out <- as.data.frame(lapply(sims, num), check.names = FALSE)
  rownames(out) <- obs_names(object)
  out
}

#' @export
logLik.tabmix <- function(object, REML = NULL, ...) {
  ll <- object$loglik
  structure(ll$value, nobs = ll$nobs, nall = ll$nobs, df = ll$df, class = "logLik")
}

#' @export
nobs.tabmix <- function(object, ...) object$nobs

#' @export
sigma.tabmix <- function(object, ...) object$sigma

#' @export
vcov.tabmix <- function(object, ...) object$vcov

#' @export
formula.tabmix <- function(x, ...) x$formula

#' @export
family.tabmix <- function(object, ...) {
  switch(object$family, gaussian = stats::gaussian(), stop("unknown family ", object$family))
}

# lme4-only generics (ngrps, getME for isSingular): registered when lme4 loads.

ngrps.tabmix <- function(object, ...) object$ngrps

getME.tabmix <- function(object, name, ...) {
  switch(name,
         theta = object$theta,
         lower = lower_bounds(object),
         beta = unname(object$fixef), fixef = object$fixef,
         sigma = object$sigma, n = , n_rtrms = length(object$terms),
         stop("getME(", name, ") is not available for tabmix fits", call. = FALSE))
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
