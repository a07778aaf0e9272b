# tm_get(): lme4's getME() for tabmix fits, from the stored numbers.

#' Names tm_get() knows.
#' @noRd
tm_get_names <- c("X", "Z", "Zt", "y", "mu", "fitted", "theta", "beta", "fixef", "Lambda",
                  "Lambdat", "b", "u", "flist", "cnms", "sigma", "n", "N", "p", "q", "lower",
                  "weights", "offset", "REML", "is_REML", "n_rtrms", "Gp", "l_i", "q_i", "k",
                  "devcomp", "ranef", "vcov", "criterion", "optinfo")

#' Extract components of a tabmix fit, like lme4's getME()
#'
#' @param object A `tabmix` fit.
#' @param name One or more of `"X"` (fixed-effects matrix), `"Z"`, `"Zt"`
#'   (random-effects matrix and its transpose), `"y"`, `"mu"` (fitted
#'   values), `"theta"`, `"beta"`, `"fixef"`, `"Lambda"`, `"Lambdat"`
#'   (relative covariance factor), `"b"` (random effects, lme4's order),
#'   `"u"` (spherical random effects, `b = Lambda u`), `"flist"` (grouping
#'   factors), `"cnms"` (column names per term), `"sigma"`, `"n"`, `"N"`,
#'   `"p"`, `"q"`, `"lower"`, `"weights"`, `"offset"`, `"REML"`,
#'   `"is_REML"`, `"n_rtrms"`, `"Gp"`, `"l_i"`, `"q_i"`, `"k"`,
#'   `"devcomp"`, `"ranef"`, `"vcov"`, `"criterion"`, `"optinfo"`.
#' @return The component; a named list for several names.  Sparse
#'   matrices (`Z`, `Zt`, `Lambda`, `Lambdat`) are `Matrix` objects when
#'   the Matrix package is installed, dense matrices otherwise.
#' @examples
#' fit <- readRDS(system.file("extdata", "sleepstudy-reml.rds", package = "tabmixr"))
#' tm_get(fit, "theta")
#' tm_get(fit, "cnms")
#' dim(tm_get(fit, "Z"))
#' @export
tm_get <- function(object, name) {
  if (!inherits(object, "tabmix")) stop("tm_get() needs a tabmix fit", call. = FALSE)
  if (!is.character(name) || !length(name)) stop("name must be a character vector", call. = FALSE)
  if (length(name) > 1L) return(stats::setNames(lapply(name, tm_get, object = object), name))
  if (!name %in% tm_get_names) {
    stop("tm_get(fit, \"", name, "\") is not available; known names: ",
         paste(tm_get_names, collapse = ", "), call. = FALSE)
  }
  terms <- object$terms
  q_i <- vapply(terms, function(t) length(t$columns), 1L)
  l_i <- vapply(terms, function(t) length(t$levels), 1L)
  switch(name,
    X = model.matrix.tabmix(object),
    Z = random_matrix(object),
    Zt = sparse_t(random_matrix(object)),
    y = object$y, mu = , fitted = unname(object$fitted),
    theta = stats::setNames(object$theta, theta_names(terms)),
    beta = unname(object$fixef), fixef = object$fixef,
    Lambda = lambda_matrix(object), Lambdat = sparse_t(lambda_matrix(object)),
    b = unlist(lapply(terms, function(t) as.vector(t(t$b))), use.names = FALSE),
    u = spherical_u(object),
    flist = group_factors(object), cnms = stats::setNames(lapply(terms, `[[`, "columns"),
                                                          vapply(terms, `[[`, "", "group")),
    sigma = object$sigma, n = , N = object$nobs, p = length(object$fixef),
    q = sum(q_i * l_i), lower = stats::setNames(lower_bounds(object), theta_names(terms)),
    weights = if (is.null(object$weights)) rep(1, object$nobs) else object$weights,
    offset = if (is.null(object$offset)) rep(0, object$nobs) else object$offset,
    REML = as.integer(object$reml), is_REML = object$reml,
    n_rtrms = length(terms), Gp = c(0L, cumsum(q_i * l_i)), l_i = l_i, q_i = q_i,
    k = length(terms),
    devcomp = list(cmp = c(sigmaML = object$sigma, REML = if (object$reml) object$criterion else NA,
                           dev = if (object$reml) NA else object$criterion),
                   dims = c(N = object$nobs, n = object$nobs, p = length(object$fixef),
                            q = sum(q_i * l_i), nth = length(object$theta),
                            REML = as.integer(object$reml))),
    ranef = ranef.tabmix(object), vcov = object$vcov, criterion = object$criterion,
    optinfo = object$optimizer)
}

theta_names <- function(terms) {
  unlist(lapply(terms, function(t) {
    cols <- t$columns
    q <- length(cols)
    idx <- which(lower.tri(diag(q), diag = TRUE), arr.ind = TRUE)
    paste0(t$group, ".", ifelse(idx[, 1] == idx[, 2], cols[idx[, 1]],
                                paste0(cols[idx[, 1]], ".", cols[idx[, 2]])))
  }), use.names = FALSE)
}

has_matrix <- function() requireNamespace("Matrix", quietly = TRUE)

sparse_t <- function(m) if (has_matrix()) Matrix::t(m) else t(m)

#' Z: per term, column (level - 1) * q + j holds the term's column j on the
#' rows of that level (lme4's order).
#' @noRd
random_matrix <- function(object) {
  n <- object$nobs
  blocks <- lapply(object$terms, function(t) {
    q <- length(t$columns)
    if (is.null(t$X) || is.null(t$codes)) {
      stop("this tabmix object stores no random-effects design; refit it with tabmix()", call. = FALSE)
    }
    list(i = rep(seq_len(n), q), j = as.vector(outer((t$codes - 1L) * q, seq_len(q), `+`)),
         x = as.vector(t$X), ncol = q * length(t$levels),
         names = rep(t$levels, each = q))
  })
  offsets <- c(0L, cumsum(vapply(blocks, `[[`, 1, "ncol")))
  i <- unlist(lapply(blocks, `[[`, "i"))
  j <- unlist(lapply(seq_along(blocks), function(k) blocks[[k]]$j + offsets[[k]]))
  x <- unlist(lapply(blocks, `[[`, "x"))
  cols <- unlist(lapply(blocks, `[[`, "names"))
  dn <- list(obs_names(object), cols)
  total <- offsets[[length(offsets)]]
  if (has_matrix()) return(Matrix::sparseMatrix(i = i, j = j, x = x, dims = c(n, total), dimnames = dn))
  Z <- matrix(0, n, total, dimnames = dn)
  Z[cbind(i, j)] <- x
  Z
}

#' The relative covariance factor of one term: lower-triangular T with
#' T T' = cov / sigma^2, filled from theta column by column (lme4's order).
#' @noRd
term_factor <- function(theta, q) {
  Tm <- matrix(0, q, q)
  Tm[lower.tri(Tm, diag = TRUE)] <- theta
  Tm
}

#' Lambda: block diagonal, one copy of each term's factor per level.
#' @noRd
lambda_matrix <- function(object) {
  q_i <- vapply(object$terms, function(t) length(t$columns), 1L)
  n_th <- q_i * (q_i + 1L) / 2L
  ends <- cumsum(n_th)
  blocks <- lapply(seq_along(object$terms), function(k) {
    theta <- object$theta[seq.int(ends[k] - n_th[k] + 1L, length.out = n_th[k])]
    kronecker(diag(length(object$terms[[k]]$levels)), term_factor(theta, q_i[k]))
  })
  if (has_matrix()) return(Matrix::bdiag(blocks))
  size <- sum(vapply(blocks, nrow, 1L))
  out <- matrix(0, size, size)
  at <- 0L
  for (b in blocks) {
    idx <- at + seq_len(nrow(b))
    out[idx, idx] <- b
    at <- at + nrow(b)
  }
  out
}

#' lme4 keeps b = Lambda u (b on the response scale, u spherical), so
#' u = Lambda^-1 b; it needs a non-singular Lambda.
#' @noRd
spherical_u <- function(object) {
  if (isSingular(object, tol = 0)) {
    stop("tm_get(fit, \"u\"): Lambda is singular, u is not determined by b", call. = FALSE)
  }
  b <- tm_get(object, "b")
  as.vector(solve(as.matrix(lambda_matrix(object)), b))
}

#' The grouping factors (lme4's flist), one per distinct group, with the
#' term -> factor map as attribute "assign".
#' @noRd
group_factors <- function(object) {
  groups <- vapply(object$terms, `[[`, "", "group")
  first <- match(unique(groups), groups)
  out <- lapply(object$terms[first], function(t) factor(t$levels[t$codes], levels = t$levels))
  out <- stats::setNames(out, unique(groups))
  for (k in seq_along(out)) names(out[[k]]) <- NULL
  structure(out, assign = match(groups, unique(groups)))
}
