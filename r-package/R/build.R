# Building the pure-R fit object from the bridge's parts (tabmixr.bridge.plain).
# The variance-component table, ranef and coef are derived here from the
# per-term pieces, so Python sends each number once and nothing pandas-shaped.

chr <- function(x) as.character(unlist(x, use.names = FALSE))

num <- function(x) as.numeric(unlist(x, use.names = FALSE))

as_matrix <- function(x, nrow, ncol, rownames = NULL, colnames = NULL) {
  m <- matrix(num(x), nrow = nrow, ncol = ncol)
  dimnames(m) <- list(rownames, colnames)
  m
}

#' One random-effect term from its bridge parts.
#' @noRd
new_term <- function(t, n) {
  cols <- chr(t$columns)
  levels <- chr(t$levels)
  q <- length(cols)
  list(group = chr(t$group), columns = cols, levels = levels,
       cov = as_matrix(t$cov, q, q, cols, cols),
       b = as_matrix(t$b, length(levels), q, levels, cols),
       cond_sd = as_matrix(t$cond_sd, length(levels), q, levels, cols),
       cond_var = array(num(t$cond_var), c(q, q, length(levels)), list(cols, cols, levels)),
       X = as_matrix(t$X, n, q, NULL, cols),
       codes = as.integer(unlist(t$codes, use.names = FALSE)))
}

#' lme4's as.data.frame(VarCorr()) rows: per term the variances, then the
#' covariances in lower-triangle order; a Residual row for scaled families.
#' @noRd
varcorr_frame <- function(terms, sigma, use_sc) {
  names <- make.unique(vapply(terms, `[[`, "", "group"))
  parts <- lapply(seq_along(terms), function(i) {
    m <- terms[[i]]$cov
    cols <- terms[[i]]$columns
    s <- sqrt(pmax(diag(m), 0))
    low <- lower.tri(m)
    list(grp = rep(names[[i]], length(cols) + sum(low)), var1 = c(cols, cols[col(m)[low]]),
         var2 = c(rep(NA_character_, length(cols)), cols[row(m)[low]]),
         vcov = c(diag(m), m[low]), sdcor = c(s, (m / outer(s, s))[low]))
  })
  if (use_sc) {
    parts <- c(parts, list(list(grp = "Residual", var1 = NA_character_, var2 = NA_character_,
                                vcov = sigma^2, sdcor = sigma)))
  }
  column <- function(name, empty) {
    if (!length(parts)) return(empty)
    unlist(lapply(parts, `[[`, name), use.names = FALSE)
  }
  data.frame(grp = column("grp", character()), var1 = column("var1", character()),
             var2 = column("var2", character()), vcov = column("vcov", numeric()),
             sdcor = column("sdcor", numeric()), stringsAsFactors = FALSE)
}

#' Conditional modes per grouping factor (terms of one factor side by side),
#' with their conditional SDs as attribute "cond_sd".
#' @noRd
ranef_frames <- function(terms) {
  groups <- vapply(terms, `[[`, "", "group")
  out <- lapply(unique(groups), function(g) {
    ts <- terms[groups == g]
    frame <- as.data.frame(do.call(cbind, lapply(ts, `[[`, "b")), check.names = FALSE)
    attr(frame, "cond_sd") <- as.data.frame(do.call(cbind, lapply(ts, `[[`, "cond_sd")),
                                            check.names = FALSE)
    attr(frame, "postVar") <- post_var(ts)
    frame
  })
  stats::setNames(out, unique(groups))
}

#' lme4's postVar: q x q x levels conditional covariances of one factor
#' (block diagonal across its terms).
#' @noRd
post_var <- function(ts) {
  if (any(vapply(ts, function(t) is.null(t$cond_var), NA))) return(NULL)
  q <- sum(vapply(ts, function(t) length(t$columns), 1L))
  nl <- length(ts[[1L]]$levels)
  out <- array(0, c(q, q, nl))
  at <- 0L
  for (t in ts) {
    idx <- at + seq_along(t$columns)
    out[idx, idx, ] <- t$cond_var
    at <- at + length(t$columns)
  }
  out
}

#' lme4's coef(): every fixed effect as a column, plus the random columns
#' that are not fixed effects (put first, with fixed part 0).
#' @noRd
coef_frames <- function(fixef, ranef) {
  random_cols <- unique(unlist(lapply(ranef, names), use.names = FALSE))
  extra <- setdiff(random_cols, names(fixef))
  base <- c(stats::setNames(numeric(length(extra)), extra), fixef)
  lapply(ranef, function(r) {
    m <- matrix(base, nrow(r), length(base), byrow = TRUE, dimnames = list(rownames(r), names(base)))
    for (col in names(r)) m[, col] <- m[, col] + r[[col]]
    as.data.frame(m, check.names = FALSE)
  })
}

#' Build the pure-R fit object from the bridge's parts.
#'
#' @param parts The list `tabmixr.bridge.fit_for_r()` returns.
#' @param call,formula The user's call and formula.
#' @param frame The model frame (rows used, variables of the formula).
#' @param row_names Labels of the rows used (R's `na.omit` keeps them).
#' @param elapsed Seconds of the whole R call (conversion included).
#' @noRd
new_tabmix <- function(parts, call = NULL, formula = NULL, frame = NULL, row_names = NULL,
                       elapsed = NA_real_) {
  fixed_names <- chr(parts$fixed_names)
  p <- length(fixed_names)
  n <- as.integer(parts$nobs)
  beta <- stats::setNames(num(parts$beta), fixed_names)
  terms <- lapply(parts$terms, new_term, n = n)
  family <- as.character(parts$family)
  sigma <- as.numeric(parts$sigma)
  use_sc <- family == "gaussian"
  ranef <- ranef_frames(terms)
  ngrps <- vapply(ranef, nrow, 1L)
  ll <- parts$loglik
  if (is.null(formula)) formula <- stats::as.formula(parts$formula, env = globalenv())
  if (is.null(row_names) || length(row_names) != n) row_names <- as.character(seq_len(n))
  fitted <- num(parts$fitted)
  y <- num(parts$y)
  method <- as.character(parts$method)
  opt_name <- function(x) if (is.null(x)) NA_character_ else as.character(x)
  structure(list(
    call = call, formula = formula, formula_text = as.character(parts$formula),
    method = method, family = family, link = parts$link, reml = isTRUE(parts$reml),
    data_name = opt_name(parts$data_name), weights_name = opt_name(parts$weights_name),
    offset_name = opt_name(parts$offset_name),
    response_name = as.character(parts$response_name), nobs = n, row_names = row_names,
    fixef = beta, vcov = as_matrix(parts$vcov, p, p, fixed_names, fixed_names),
    sigma = sigma, theta = num(parts$theta), criterion = as.numeric(parts$criterion),
    loglik = if (is.null(ll)) NULL else
      list(value = as.numeric(ll$value), df = as.integer(ll$df), nobs = as.integer(ll$nobs)),
    varcorr = varcorr_frame(terms, sigma, use_sc), terms = terms, ranef = ranef,
    coef = coef_frames(beta, ranef), ngrps = ngrps,
    X = as_matrix(parts$X, n, p, NULL, fixed_names),
    fitted = fitted, residuals = y - fitted, y = y,
    weights = if (is.null(parts$weights)) NULL else num(parts$weights),
    offset = if (is.null(parts$offset)) NULL else num(parts$offset),
    frame = frame, singular = isTRUE(parts$singular), messages = chr(parts$messages),
    optimizer = parts$optimizer, fit_time = as.numeric(parts$fit_time), elapsed = elapsed,
    summary_text = as.character(parts$summary_text),
    schema_version = as.integer(parts$schema_version), dict_json = as.character(parts$json)
  ), class = c(paste0("tabmix_", method), "tabmix"))
}
