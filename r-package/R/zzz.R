.onLoad <- function(libname, pkgname) {
  # Lazy: nothing imports Python here.
  .tabmixr$bridge <- tabmixr_delayed_import("tabmixr.bridge")
  register_s3("lme4", "ngrps", "tabmix", ngrps.tabmix)
  register_s3("lme4", "getME", "tabmix", getME.tabmix)
  invisible()
}

#' Register a method for a generic of a suggested package, now if it is
#' loaded, else when it loads (the vctrs::s3_register pattern, our code).
#' @noRd
register_s3 <- function(pkg, generic, class, method) {
  register <- function(...) {
    envir <- asNamespace(pkg)
    if (exists(generic, envir = envir)) {
      registerS3method(generic, class, method, envir = envir)
    }
  }
  if (isNamespaceLoaded(pkg)) register()
  setHook(packageEvent(pkg, "onLoad"), register)
  invisible()
}
