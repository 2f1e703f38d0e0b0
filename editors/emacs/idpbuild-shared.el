;;; idpbuild-shared.el --- Connect Eglot and lsp-mode to the shared idpbuild server  -*- lexical-binding: t; -*-

;; With idpbuild.socket enabled (editors/systemd), every editor of yours can share one idpbuild server.
;; After loading idpbuild.el, load this file and call (idpbuild-use-shared-server):
;; - Eglot connects straight to the unix socket ($XDG_RUNTIME_DIR/idpbuild/lsp.sock) with a local network process;
;; - lsp-mode (which starts processes) goes through the stdio bridge `idpbuild lsp --connect unix:PATH'.

;;; Code:

(defvar eglot-server-programs)
(defvar idpbuild-program)
(defvar idpbuild-settings)
(defvar idpbuild--modes)

(defcustom idpbuild-shared-socket
  (and (getenv "XDG_RUNTIME_DIR") (expand-file-name "idpbuild/lsp.sock" (getenv "XDG_RUNTIME_DIR")))
  "The shared server's unix socket."
  :type '(choice (const nil) file)
  :group 'idpbuild)

(defun idpbuild-shared--connect ()
  "A process connected to the shared server's socket."
  (unless (and idpbuild-shared-socket (file-exists-p idpbuild-shared-socket))
    (user-error "No idpbuild socket at %s: systemctl --user enable --now idpbuild.socket" idpbuild-shared-socket))
  (make-network-process :name "idpbuild-shared" :family 'local :service idpbuild-shared-socket
                        :coding 'binary :noquery t))

(defun idpbuild-shared-contact (&rest _)
  "The Eglot contact for the shared server."
  (append (list 'eglot-lsp-server :process #'idpbuild-shared--connect)
          (and idpbuild-settings (list :initializationOptions idpbuild-settings))))

;;;###autoload
(defun idpbuild-use-shared-server ()
  "Use the shared idpbuild server from Eglot and lsp-mode."
  (with-eval-after-load 'eglot
    (add-to-list 'eglot-server-programs (cons idpbuild--modes #'idpbuild-shared-contact)))
  (setq idpbuild-program (list (car idpbuild-program) "lsp" "--connect" (concat "unix:" idpbuild-shared-socket))))

(provide 'idpbuild-shared)
;;; idpbuild-shared.el ends here
