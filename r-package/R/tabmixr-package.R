#' tabmixr: mixed-effects models in lme4's formula language, fitted by Python
#'
#' [tabmix()] fits a model through reticulate and returns a pure R object
#' with methods for the generics of lme4, nlme and stats.  Fits stored on
#' disk print and answer accessors without Python.
#'
#' @keywords internal
#' @importFrom stats AIC BIC coef confint family fitted formula gaussian logLik
#'   model.frame model.matrix nobs predict residuals sigma simulate vcov anova
"_PACKAGE"
