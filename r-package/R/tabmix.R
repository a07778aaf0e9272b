#' Fit a linear mixed model with tabmixr
#'
#' The model is written in lme4's formula language and fitted by the Python
#' package tabmixr (through reticulate).  The result is a pure R object: it
#' holds plain numbers and the fit's versioned dictionary (as JSON text), so
#' it survives `saveRDS()`/`readRDS()`; `predict()` with new data and
#' `simulate()` send that dictionary back to Python.
#'
#' @param formula A two-sided formula such as `Reaction ~ Days + (Days | Subject)`.
#' @param data A data frame holding every variable of the formula.  Factors
#'   keep their level order.
#' @param family A family object or its name; `gaussian()` only for now.
#' @param method `"reml"` (default) or `"ml"`.
#' @param weights Prior weights: a numeric vector, a column of `data`
#'   (unquoted, as in lme4) or a column name.
#' @param offset An offset, given as `weights` is.
#' @param na.action `"omit"` (drop incomplete rows) or `"fail"`; a function
#'   `na.omit`/`na.fail` is accepted too.
#' @param verbose Print the optimizer trace.
#' @param ... Further engine options passed to Python's `tabmix()`.
#' @return An object of class `c("tabmix_<method>", "tabmix")`.
#' @examples
#' \dontrun{
#' fit <- tabmix(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
#' summary(fit)
#' }
#' @export
tabmix <- function(formula, data, family = gaussian(), method = c("reml", "ml"),
                   weights = NULL, offset = NULL, na.action = "omit", verbose = FALSE, ...) {
  call <- match.call()
  method <- match.arg(method)
  if (!inherits(formula, "formula") || length(formula) != 3L) {
    stop("formula must be a two-sided formula such as y ~ x + (1 | g)", call. = FALSE)
  }
  if (!is.data.frame(data)) stop("data must be a data frame", call. = FALSE)
  family_name <- family_name(family)
  data_name <- paste(deparse(substitute(data), width.cutoff = 500L), collapse = " ")
  env <- environment(formula)
  weights <- eval_in_data(substitute(weights), data, env, "weights")
  offset <- eval_in_data(substitute(offset), data, env, "offset")
  if (is.function(na.action)) {
    na.action <- if (identical(na.action, stats::na.fail)) "fail" else "omit"
  }
  formula_text <- paste(deparse(formula, width.cutoff = 500L), collapse = " ")
  bridge <- tabmixr_bridge()
  pydata <- reticulate::r_to_py(as.data.frame(data))
  parts <- tabmix_py(bridge$fit_for_r(
    formula_text, pydata, family = family_name, method = method,
    weights = weights, offset = offset, na_action = na.action,
    verbose = isTRUE(verbose), data_name = data_name, ...
  ), call = call)
  new_tabmix(parts, call = call, formula = formula)
}

family_name <- function(family) {
  if (is.character(family)) return(family[[1L]])
  if (is.function(family)) family <- family()
  if (inherits(family, "family")) return(family$family)
  stop("family must be a family object such as gaussian() or its name", call. = FALSE)
}

eval_in_data <- function(expr, data, env, what) {
  if (is.null(expr)) return(NULL)
  value <- eval(expr, data, env)
  if (is.null(value) || is.character(value) && length(value) == 1L) return(value)
  if (!is.numeric(value)) stop(what, " must be numeric or a column name", call. = FALSE)
  as.numeric(value)
}

chr <- function(x) as.character(unlist(x, use.names = FALSE))

num <- function(x) as.numeric(unlist(x, use.names = FALSE))

as_matrix <- function(x, nrow, ncol, rownames = NULL, colnames = NULL) {
  m <- matrix(num(x), nrow = nrow, ncol = ncol)
  dimnames(m) <- list(rownames, colnames)
  m
}

#' Level frames (ranef, coef) from the bridge's `levels/columns/values` parts.
#' @noRd
level_frame <- function(p, values = p$values) {
  levels <- chr(p$levels)
  columns <- chr(p$columns)
  m <- as_matrix(values, length(levels), length(columns), levels, columns)
  as.data.frame(m, check.names = FALSE)
}

#' Build the pure-R fit object from the bridge's parts.
#' @noRd
new_tabmix <- function(parts, call = NULL, formula = NULL) {
  fixed_names <- chr(parts$fixed_names)
  p <- length(fixed_names)
  beta <- stats::setNames(num(parts$beta), fixed_names)
  vc <- parts$varcorr
  varcorr <- data.frame(grp = chr(vc$grp), var1 = chr(vc$var1), var2 = chr(vc$var2),
                        vcov = num(vc$vcov), sdcor = num(vc$sdcor), stringsAsFactors = FALSE)
  varcorr$var1[varcorr$var1 == ""] <- NA_character_
  varcorr$var2[varcorr$var2 == ""] <- NA_character_
  terms <- lapply(parts$terms, function(t) {
    cols <- chr(t$columns)
    list(group = chr(t$group), columns = cols,
         cov = as_matrix(t$cov, length(cols), length(cols), cols, cols))
  })
  ranef <- lapply(parts$ranef, function(r) {
    frame <- level_frame(r)
    attr(frame, "cond_sd") <- level_frame(r, r$cond_sd)
    frame
  })
  coefs <- lapply(parts$coef, level_frame)
  n <- as.integer(parts$nobs)
  ngrps <- unlist(parts$ngrps)
  storage.mode(ngrps) <- "integer"
  ll <- parts$loglik
  if (is.null(formula)) formula <- stats::as.formula(parts$formula, env = globalenv())
  method <- as.character(parts$method)
  structure(list(
    call = call, formula = formula, formula_text = as.character(parts$formula),
    method = method, family = as.character(parts$family), reml = isTRUE(parts$reml),
    data_name = if (is.null(parts$data_name)) NA_character_ else as.character(parts$data_name),
    response_name = as.character(parts$response_name), nobs = n,
    fixef = beta, vcov = as_matrix(parts$vcov, p, p, fixed_names, fixed_names),
    sigma = as.numeric(parts$sigma), theta = num(parts$theta),
    criterion = as.numeric(parts$criterion),
    loglik = list(value = as.numeric(ll$value), df = as.integer(ll$df), nobs = as.integer(ll$nobs)),
    varcorr = varcorr, terms = terms, ranef = ranef, coef = coefs, ngrps = ngrps,
    fitted = num(parts$fitted), residuals = num(parts$residuals), y = num(parts$y),
    singular = isTRUE(parts$singular), messages = chr(parts$messages),
    summary_text = as.character(parts$summary_text),
    schema_version = as.integer(parts$schema_version), dict_json = as.character(parts$json)
  ), class = c(paste0("tabmix_", method), "tabmix"))
}

#' Call a method of the Python fit rebuilt from the stored dictionary.
#' @noRd
tabmix_call_python <- function(object, name, ..., call = sys.call(-1L)) {
  if (!is.character(object$dict_json) || length(object$dict_json) != 1L) {
    stop("this tabmix object carries no stored fit dictionary; refit it with tabmix()", call. = FALSE)
  }
  bridge <- tabmixr_bridge()
  tabmix_py(bridge$call_method(object$dict_json, name, ...), call = call)
}
