# Export the data sets bundled with tabmixr from the R packages that ship them.
#
# Usage (from the repository root; needs lme4, nlme, mlmRev and jsonlite):
#
#   Rscript tabmixr/datasets/export_from_r.R [output_dir]
#
# output_dir defaults to tabmixr/datasets/data.  For each data set it writes
#
#   <name>.csv.gz  the rows, plain CSV (header, no row names, labels quoted),
#                  NA as an empty field, numbers printed so that they read back bit for bit
#                  (15 significant digits when that round-trips, else 17);
#   <name>.json    the sidecar: source package and version, row count, and per
#                  column its R type ("numeric", "integer", "logical",
#                  "character", "factor", "ordered") and, for factors, the
#                  levels in R's order (nlme's ordered factors, e.g.
#                  Orthodont$Subject, are not alphabetical).
#
# nlme's groupedData objects are exported as plain data frames (their formula,
# labels and units attributes are dropped).  The tests do not run this script;
# they check the shipped files against live R when R is available.

suppressPackageStartupMessages({
  library(jsonlite)
})

DATASETS <- list(
  c("lme4", "sleepstudy"),
  c("lme4", "InstEval"),
  c("lme4", "Penicillin"),
  c("lme4", "Dyestuff"),
  c("lme4", "Pastes"),
  c("lme4", "cake"),
  c("lme4", "cbpp"),
  c("lme4", "grouseticks"),
  c("nlme", "Orthodont"),
  c("nlme", "Oats"),
  c("nlme", "Machines"),
  c("nlme", "ergoStool"),
  c("nlme", "Rail"),
  c("nlme", "MathAchieve"),
  c("mlmRev", "Exam"),
  c("mlmRev", "Gcsemv"),
  c("mlmRev", "Chem97"),
  c("mlmRev", "ScotsSec")
)

# Files larger than this (gzipped) are not shipped.
MAX_BYTES <- 2 * 1024^2

column_type <- function(x) {
  if (is.ordered(x)) return("ordered")
  if (is.factor(x)) return("factor")
  if (is.logical(x)) return("logical")
  if (is.integer(x)) return("integer")
  if (is.numeric(x)) return("numeric")
  if (is.character(x)) return("character")
  stop("unsupported column class: ", paste(class(x), collapse = "/"))
}

# Shortest of 15 or 17 significant digits that reads back to the same double.
format_exact <- function(x) {
  out <- rep(NA_character_, length(x))
  ok <- !is.na(x)
  out[ok] <- sprintf("%.15g", x[ok])
  inexact <- ok & as.numeric(out) != x
  inexact[is.na(inexact)] <- FALSE
  out[inexact] <- sprintf("%.17g", x[inexact])
  out
}

as_plain_data_frame <- function(x) {
  df <- as.data.frame(x, stringsAsFactors = FALSE)
  class(df) <- "data.frame"
  for (a in setdiff(names(attributes(df)), c("names", "row.names", "class"))) {
    attr(df, a) <- NULL
  }
  df
}

export_one <- function(package, name, out_dir) {
  df <- as_plain_data_frame(do.call("::", list(package, name)))
  columns <- lapply(names(df), function(column) {
    x <- df[[column]]
    entry <- list(name = column, type = column_type(x))
    if (is.factor(x)) {
      if (any(levels(x) == "")) stop(name, "$", column, " has an empty-string level")
      entry$levels <- levels(x)
    }
    entry
  })
  # Only labels are quoted; numbers stay bare.
  quoted <- which(vapply(df, function(x) is.factor(x) || is.character(x), logical(1)))
  text <- df
  for (column in names(text)) {
    x <- text[[column]]
    text[[column]] <- if (is.double(x)) format_exact(x) else as.character(x)
  }
  csv_path <- file.path(out_dir, paste0(name, ".csv.gz"))
  con <- gzfile(csv_path, "w9")
  write.csv(text, con, row.names = FALSE, na = "", quote = if (length(quoted)) unname(quoted) else FALSE)
  close(con)
  size <- file.size(csv_path)
  if (size > MAX_BYTES) {
    file.remove(csv_path)
    message(sprintf("skipped %s::%s: %.1f MB gzipped", package, name, size / 1024^2))
    return(invisible(NULL))
  }
  sidecar <- list(
    name = name,
    package = package,
    package_version = as.character(utils::packageVersion(package)),
    r_version = paste(R.version$major, R.version$minor, sep = "."),
    nrow = nrow(df),
    columns = columns
  )
  writeLines(toJSON(sidecar, auto_unbox = TRUE, pretty = TRUE),
             file.path(out_dir, paste0(name, ".json")))
  message(sprintf("exported %s::%s: %d rows, %.0f kB", package, name, nrow(df), size / 1024))
}

main <- function() {
  args <- commandArgs(trailingOnly = TRUE)
  out_dir <- if (length(args) >= 1) args[[1]] else file.path("tabmixr", "datasets", "data")
  dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
  for (d in DATASETS) export_one(d[[1]], d[[2]], out_dir)
}

main()
