# brms fits for bench/amortized_vs_brms.py: one Stan model per model structure, compiled once.
#
#   Rscript bench/brms_fit.R <dir>
#
# <dir>/sets.json lists the data sets: name, csv, formula (brms syntax with
# `0 + Intercept`), structure (sets of one structure share the compiled model),
# prior hyperparameters (nu, tau per fixed effect; tau_s per random effect;
# tau_e; eta), seed.  The priors enter as Stan data (stanvars), so a second
# set of one structure reuses the compiled model: update(recompile = FALSE).
# Writes <dir>/brms_<name>.csv (parameter, mean, sd, q2.5, q97.5, ess_bulk: the
# posterior package's bulk effective sample size, so the Monte Carlo error of
# brms's own mean is sd / sqrt(ess_bulk)) and
# <dir>/brms_times.csv (name, seconds, compiled).
suppressPackageStartupMessages({
  library(brms)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
sets <- fromJSON(file.path(dir, "sets.json"), simplifyVector = FALSE)

priors_for <- function(s) {
  fixed <- unlist(s$fixed)
  re <- unlist(s$random)
  pr <- NULL
  for (j in seq_along(fixed)) {
    pr <- c(pr, list(set_prior(sprintf("normal(nu%d, tau%d)", j, j), class = "b", coef = fixed[j])))
  }
  for (k in seq_along(re)) {
    pr <- c(pr, list(set_prior(sprintf("normal(0, taus%d)", k), class = "sd", group = "g",
                               coef = re[k])))
  }
  pr <- c(pr, list(set_prior("normal(0, taue)", class = "sigma")))
  if (length(re) > 1) pr <- c(pr, list(set_prior(sprintf("lkj(%g)", s$eta), class = "cor")))
  do.call(c, pr)
}

stanvars_for <- function(s) {
  sv <- NULL
  for (j in seq_along(s$nu)) {
    v <- stanvar(s$nu[[j]], sprintf("nu%d", j)) + stanvar(s$tau[[j]], sprintf("tau%d", j))
    sv <- if (is.null(sv)) v else sv + v
  }
  for (k in seq_along(s$tau_s)) sv <- sv + stanvar(s$tau_s[[k]], sprintf("taus%d", k))
  sv + stanvar(s$tau_e, "taue")
}

compiled <- list()
times <- data.frame(name = character(), seconds = numeric(), compiled = logical())
for (s in sets) {
  d <- read.csv(file.path(dir, s$csv))
  d$g <- factor(d$g)
  t0 <- proc.time()[["elapsed"]]
  fresh <- is.null(compiled[[s$structure]])
  if (fresh) {
    fit <- brm(bf(as.formula(s$formula)), data = d, prior = priors_for(s), stanvars = stanvars_for(s),
               chains = 4, iter = 2000, warmup = 1000, cores = 2, seed = s$seed, refresh = 0,
               silent = 2)
    compiled[[s$structure]] <- fit
  } else {
    fit <- update(compiled[[s$structure]], newdata = d, stanvars = stanvars_for(s), recompile = FALSE,
                  chains = 4, iter = 2000, warmup = 1000, cores = 2, seed = s$seed, refresh = 0,
                  silent = 2)
  }
  secs <- proc.time()[["elapsed"]] - t0
  times <- rbind(times, data.frame(name = s$name, seconds = secs, compiled = fresh))
  dr <- as_draws_df(fit)
  keep <- grep("^(b_|sd_|cor_|sigma$)", names(dr), value = TRUE)
  out <- data.frame(parameter = keep,
                    mean = sapply(keep, function(k) mean(dr[[k]])),
                    sd = sapply(keep, function(k) sd(dr[[k]])),
                    q2.5 = sapply(keep, function(k) quantile(dr[[k]], 0.025, names = FALSE)),
                    q97.5 = sapply(keep, function(k) quantile(dr[[k]], 0.975, names = FALSE)),
                    ess_bulk = sapply(keep, function(k)
                      posterior::ess_bulk(posterior::extract_variable_matrix(dr, k))))
  write.csv(out, file.path(dir, sprintf("brms_%s.csv", s$name)), row.names = FALSE)
  cat(sprintf("brms %-22s %6.1f s%s\n", s$name, secs, if (fresh) " (with compilation)" else ""))
}
write.csv(times, file.path(dir, "brms_times.csv"), row.names = FALSE)
