# tabmix() (through reticulate) vs lmer() on sleepstudy, in one R session.
#
#   Rscript bench/r_bridge.R [reps]
#
# The first tabmix() call starts Python and imports tabmixr; it is reported on
# its own line.  Then tabmix() and lmer() calls alternate (so load on the
# machine hits both alike) and the medians over `reps` calls are compared.
# "engine" is the Python engine's own fit time (fit$fit_time); the rest of a
# tabmix() call is the bridge: R -> pandas, parts -> R, the S3 object.
suppressMessages({
  library(lme4)
  library(tabmixr)
})
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[[1]]) else 40L
data(sleepstudy, package = "lme4")
models <- list(`sleepstudy (Days|Subject)` = Reaction ~ Days + (Days | Subject),
               `sleepstudy (1|Subject)` = Reaction ~ Days + (1 | Subject))

first <- system.time(fit <- tabmix(models[[1]], sleepstudy))[["elapsed"]]
cat(sprintf("first tabmix() call (Python start-up + import + fit): %.3f s\n\n", first))

elapsed <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  force(expr)
  proc.time()[["elapsed"]] - t0
}

cat(sprintf("%-28s %10s %10s %10s %8s %6s %14s %14s\n", "model", "tabmix", "engine", "lmer",
            "ratio", "goal", "REML tabmix", "REML lmer"))
for (name in names(models)) {
  f <- models[[name]]
  invisible(tabmix(f, sleepstudy))
  invisible(lmer(f, sleepstudy))
  t_tabmix <- t_lmer <- t_engine <- numeric(reps)
  for (i in seq_len(reps)) {
    t_tabmix[i] <- elapsed(fit <- tabmix(f, sleepstudy))
    t_engine[i] <- fit$fit_time
    t_lmer[i] <- elapsed(m <- lmer(f, sleepstudy))
  }
  cat(sprintf("%-28s %8.2fms %8.2fms %8.2fms %8.3f %6.2f %14.6f %14.6f\n", name,
              1000 * median(t_tabmix), 1000 * median(t_engine), 1000 * median(t_lmer),
              median(t_tabmix) / median(t_lmer), 1.0, fit$criterion, REMLcrit(m)))
}
cat("\n")
