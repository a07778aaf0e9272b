# tabmix() (through reticulate) vs lmer() on sleepstudy, in one R session.
#
#   Rscript bench/r_bridge.R [reps]
#
# The first tabmix() call starts Python and imports tabmixr; it is reported on
# its own line.  Then both fits are timed over `reps` calls (median).
suppressMessages({
  library(lme4)
  library(tabmixr)
})
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[[1]]) else 30L
data(sleepstudy, package = "lme4")
f <- Reaction ~ Days + (Days | Subject)

first <- system.time(fit <- tabmix(f, sleepstudy))[["elapsed"]]
invisible(lmer(f, sleepstudy))
median_time <- function(expr_fun) {
  median(vapply(seq_len(reps), function(i) system.time(expr_fun())[["elapsed"]], numeric(1)))
}
t_tabmix <- median_time(function() tabmix(f, sleepstudy))
t_lmer <- median_time(function() lmer(f, sleepstudy))
m <- lmer(f, sleepstudy)

cat(sprintf("first tabmix() call (Python start-up + import): %.3f s\n\n", first))
cat(sprintf("%-28s %12s %12s %8s %6s %16s %16s\n", "model", "tabmix", "lmer", "ratio", "goal",
            "REML tabmix", "REML lmer"))
cat(sprintf("%-28s %10.2fms %10.2fms %8.3f %6.2f %16.6f %16.6f\n", "sleepstudy (Days|Subject)",
            1000 * t_tabmix, 1000 * t_lmer, t_tabmix / t_lmer, 1.0,
            -2 * as.numeric(logLik(fit)), REMLcrit(m)))
cat("\n")
