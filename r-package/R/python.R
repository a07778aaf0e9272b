# Finding Python and the tabmixr module.  Nothing here runs Python at load
# time: the modules are imported with `delay_load` and load on first use.

.tabmixr <- new.env(parent = emptyenv())

#' Message shown when the Python module cannot be imported.
#' @noRd
tabmixr_install_message <- function(why = NULL) {
  paste0(
    "the Python module 'tabmixr' is not available",
    if (!is.null(why) && nzchar(why)) paste0(" (", why, ")") else "", ".\n",
    "Install it into the Python that reticulate uses with tabmixr::install_tabmixr(\"/path/to/tabmixr\")\n",
    "(or `python -m pip install /path/to/tabmixr`), and point R at that Python with\n",
    "Sys.setenv(TABMIXR_PYTHON = \"/path/to/python\") or RETICULATE_PYTHON before loading tabmixr."
  )
}

#' Pick the Python: TABMIXR_PYTHON first, then reticulate's own discovery.
#' @noRd
tabmixr_use_python <- function() {
  py <- Sys.getenv("TABMIXR_PYTHON", "")
  if (nzchar(py) && !reticulate::py_available(initialize = FALSE)) {
    try(reticulate::use_python(py, required = FALSE), silent = TRUE)
  }
  invisible(py)
}

tabmixr_delayed_import <- function(module) {
  reticulate::import(module, delay_load = list(
    before_load = function() tabmixr_use_python(),
    on_error = function(e) stop(tabmixr_install_message(conditionMessage(e)), call. = FALSE)
  ))
}

#' The Python bridge module (`tabmixr.bridge`), imported on first use.
#' @noRd
tabmixr_bridge <- function() {
  if (isTRUE(.tabmixr$ready)) return(.tabmixr$bridge)
  if (is.null(.tabmixr$bridge)) .tabmixr$bridge <- tabmixr_delayed_import("tabmixr.bridge")
  if (!tabmixr_available()) stop(tabmixr_install_message(), call. = FALSE)
  .tabmixr$ready <- TRUE
  .tabmixr$bridge
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

#' Is the Python module tabmixr importable?
#'
#' Starts Python (the one named by `TABMIXR_PYTHON`, else reticulate's choice)
#' if it is not running yet.
#' @return `TRUE` or `FALSE`.
#' @export
tabmixr_available <- function() {
  tabmixr_use_python()
  isTRUE(tryCatch(reticulate::py_module_available("tabmixr.bridge"),
                  error = function(e) FALSE))
}

#' Install the Python module tabmixr
#'
#' @param path A local checkout of tabmixr (the folder holding
#'   `pyproject.toml`), or `NULL` to install `"tabmixr"` by name.
#' @param python The Python to install into; default `TABMIXR_PYTHON`, else
#'   the one reticulate would use.
#' @param editable Install in editable mode (`pip install -e`).
#' @return The exit status of pip, invisibly.
#' @export
install_tabmixr <- function(path = NULL, python = NULL, editable = FALSE) {
  if (is.null(python)) {
    python <- Sys.getenv("TABMIXR_PYTHON", "")
    if (!nzchar(python)) python <- reticulate::py_discover_config()$python
  }
  if (is.null(python) || !nzchar(python)) stop("no Python found; install Python 3.10 or newer", call. = FALSE)
  target <- if (is.null(path)) "tabmixr" else normalizePath(path, mustWork = TRUE)
  args <- c("-m", "pip", "install", if (editable) "-e", shQuote(target))
  status <- system2(python, args)
  if (!identical(as.integer(status), 0L)) stop("pip install of tabmixr failed (status ", status, ")", call. = FALSE)
  invisible(status)
}

#' Run a Python call; a Python error becomes an R error with its message.
#'
#' The R condition has classes `tabmix_<PythonClass>`, `tabmix_error`,
#' `error`; its message is the Python exception's text without traceback.
#' @noRd
tabmix_py <- function(expr, call = sys.call(-1L)) {
  tryCatch(expr, error = function(e) {
    info <- python_error_info(e)
    cls <- c(if (!is.null(info$type)) paste0("tabmix_", info$type), "tabmix_error")
    stop(errorCondition(info$message, class = cls, call = call))
  })
}

python_error_info <- function(e) {
  msg <- conditionMessage(e)
  type <- NULL
  last <- tryCatch(reticulate::py_last_error(), error = function(err) NULL)
  if (!is.null(last) && length(last$value) == 1L && nzchar(last$value) &&
      grepl(last$value, msg, fixed = TRUE)) {
    return(list(message = last$value, type = last$type))
  }
  # Otherwise strip what reticulate puts around the Python message.
  msg <- sub("^Error in py_call_impl\\(.*?\\) *:\\s*", "", msg)
  msg <- sub("\\n*(Run `reticulate::py_last_error\\(\\)`|Detailed traceback).*$", "", msg)
  pat <- "^(?:[A-Za-z_][A-Za-z0-9_]*\\.)*([A-Za-z_][A-Za-z0-9_]*(?:Error|Exception)): "
  if (grepl(pat, msg, perl = TRUE)) {
    type <- sub(paste0("(?s)", pat, ".*$"), "\\1", msg, perl = TRUE)
    msg <- sub(pat, "", msg, perl = TRUE)
  }
  list(message = sub("\\s+$", "", msg), type = type)
}
