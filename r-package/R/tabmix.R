#' Fit a mixed model with tabmixr
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
#' @param family A family object (`gaussian()`, `binomial()`, `poisson()`,
#'   ...), a family function or its name.  It is sent to Python as
#'   `list(family = , link = )`; the exact methods (`"reml"`, `"ml"`) fit
#'   the Gaussian family only.
#' @param method `"reml"` (default), `"ml"`, `"vi"` (neural mixed model) or
#'   `"amortized"` (amortized posterior).  The fit's class is
#'   `c("tabmix_<method>", "tabmix")`.
#' @param weights Prior weights: a numeric vector, a column of `data`
#'   (unquoted, as in lme4) or a column name.
#' @param offset An offset, given as `weights` is.
#' @param subset An expression evaluated in `data` selecting the rows to use
#'   (logical or row indices), as in lme4.
#' @param na.action `"omit"` (drop incomplete rows) or `"fail"`; a function
#'   `na.omit`/`na.fail` is accepted too.
#' @param control Engine options from [tabmix_control()].
#' @param verbose Print the optimizer trace.
#' @param ... Further engine options passed to Python's `tabmix()`.
#' @return An object of class `c("tabmix_<method>", "tabmix")`.
#' @seealso [tabmixr_available()], [compare_fits()], [tm_get()].
#' @examples
#' if (tabmixr_available() && requireNamespace("lme4", quietly = TRUE)) {
#'   fit <- tabmix(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
#'   summary(fit)
#' }
#' @export
tabmix <- function(formula, data, family = gaussian(), method = c("reml", "ml", "vi", "amortized"),
                   weights = NULL, offset = NULL, subset = NULL, na.action = "omit",
                   control = tabmix_control(), verbose = FALSE, ...) {
  t0 <- proc.time()[["elapsed"]]
  call <- match.call()
  method <- match.arg(method)
  if (!inherits(formula, "formula") || length(formula) != 3L) {
    stop("formula must be a two-sided formula such as y ~ x + (1 | g)", call. = FALSE)
  }
  if (!is.data.frame(data)) stop("data must be a data frame", call. = FALSE)
  family <- family_for_python(family)
  if (!inherits(control, "tabmix_control")) stop("control must come from tabmix_control()", call. = FALSE)
  data_name <- deparse_text(substitute(data))
  env <- environment(formula)
  weights_expr <- substitute(weights)
  offset_expr <- substitute(offset)
  weights <- eval_in_data(weights_expr, data, env, "weights")
  offset <- eval_in_data(offset_expr, data, env, "offset")
  rows <- subset_rows(substitute(subset), data, env)
  if (!is.null(rows)) {
    data <- data[rows, , drop = FALSE]
    if (is.numeric(weights)) weights <- weights[rows]
    if (is.numeric(offset)) offset <- offset[rows]
  }
  na.action <- na_action_name(na.action)
  used <- used_rows(formula, data, weights, offset)
  formula_text <- deparse_text(formula)
  bridge <- tabmixr_bridge()
  pydata <- data_for_python(data)
  parts <- tabmix_py(do.call(bridge$fit_for_r, c(list(
    formula_text, pydata$frame, factors = pydata$factors, family = family, method = method,
    weights = weights, offset = offset, na_action = na.action,
    verbose = isTRUE(verbose), data_name = data_name,
    weights_name = if (is.null(weights_expr)) NULL else deparse_text(weights_expr),
    offset_name = if (is.null(offset_expr)) NULL else deparse_text(offset_expr),
    summary_text = !(method %in% c("reml", "ml") && identical(family$family, "gaussian"))),
    unclass(control), list(...))), call = call)
  parts$link <- family$link
  frame <- data[used$keep, used$vars, drop = FALSE]
  new_tabmix(parts, call = call, formula = formula, frame = frame,
             row_names = rownames(data)[used$keep], elapsed = proc.time()[["elapsed"]] - t0)
}

#' Engine options for tabmix()
#'
#' @param ... Named engine options passed on to Python's `tabmix()` (e.g.
#'   `start` for the exact engine; the neural engine takes `epochs`,
#'   `batch_size`, ...).  Unknown options are reported by the engine.
#' @return A list of class `tabmix_control`.
#' @examples
#' tabmix_control()
#' @export
tabmix_control <- function(...) {
  opts <- list(...)
  if (length(opts) && (is.null(names(opts)) || any(!nzchar(names(opts))))) {
    stop("every tabmix_control() option must be named", call. = FALSE)
  }
  structure(opts, class = "tabmix_control")
}

#' The data frame for Python: factors (and characters) go as 0-based integer codes (-1 for
#' NA) with their levels on the side, which Python turns back into
#' categoricals in one call (reticulate's own factor conversion runs several
#' pandas calls per column from R).
#' @noRd
data_for_python <- function(data) {
  data <- as.data.frame(data)
  # Characters become factors with R's sorted levels, as model.frame() does
  # in lme4 (and NA stays missing rather than the string "NA").
  is_chr <- vapply(data, is.character, NA)
  data[is_chr] <- lapply(data[is_chr], factor)
  is_factor <- vapply(data, is.factor, NA)
  factors <- lapply(data[is_factor], function(f) list(levels = levels(f), ordered = is.ordered(f)))
  for (name in names(data)[is_factor]) {
    codes <- as.integer(data[[name]]) - 1L
    codes[is.na(codes)] <- -1L
    data[[name]] <- codes
  }
  list(frame = reticulate::r_to_py(data), factors = if (length(factors)) factors else NULL)
}

deparse_text <- function(expr) paste(deparse(expr, width.cutoff = 500L), collapse = " ")

#' R's family as the bridge takes it: list(family = , link = ).
#' @noRd
family_for_python <- function(family) {
  if (is.character(family) && length(family) == 1L) {
    fam <- tryCatch(get(family, mode = "function", envir = asNamespace("stats"))(),
                    error = function(e) NULL)
    if (is.null(fam)) return(list(family = family, link = NULL))
    family <- fam
  }
  if (is.function(family)) family <- family()
  if (!inherits(family, "family")) {
    stop("family must be a family object such as gaussian() or binomial(), or its name", call. = FALSE)
  }
  list(family = family$family, link = family$link)
}

eval_in_data <- function(expr, data, env, what) {
  if (is.null(expr)) return(NULL)
  value <- eval(expr, data, env)
  if (is.null(value) || is.character(value) && length(value) == 1L) return(value)
  if (!is.numeric(value)) stop(what, " must be numeric or a column name", call. = FALSE)
  if (length(value) != nrow(data)) {
    stop(what, " has length ", length(value), " but data has ", nrow(data), " rows", call. = FALSE)
  }
  as.numeric(value)
}

subset_rows <- function(expr, data, env) {
  if (is.null(expr)) return(NULL)
  rows <- eval(expr, data, env)
  if (is.logical(rows)) {
    if (length(rows) != nrow(data)) stop("subset must have one value per row of data", call. = FALSE)
    return(which(rows & !is.na(rows)))
  }
  if (is.numeric(rows)) return(as.integer(rows))
  stop("subset must be a logical or numeric row selection", call. = FALSE)
}

na_action_name <- function(na.action) {
  if (is.function(na.action)) {
    return(if (identical(na.action, stats::na.fail)) "fail" else "omit")
  }
  if (!is.character(na.action) || !na.action %in% c("omit", "exclude", "fail")) {
    stop("na.action must be \"omit\" or \"fail\" (or na.omit / na.fail)", call. = FALSE)
  }
  na.action
}

#' The variables of the formula found in data and the complete rows, which
#' are the rows Python keeps (R's na.omit): their names label fitted values.
#' @noRd
used_rows <- function(formula, data, weights, offset) {
  vars <- intersect(all.vars(formula), names(data))
  for (v in list(weights, offset)) {
    if (is.character(v) && length(v) == 1L && v %in% names(data)) vars <- union(vars, v)
  }
  keep <- stats::complete.cases(data[, vars, drop = FALSE])
  for (v in list(weights, offset)) if (is.numeric(v)) keep <- keep & !is.na(v)
  list(vars = vars, keep = keep)
}
