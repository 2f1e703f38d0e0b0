;;; idpbuild.el --- The idpbuild Dockerfile language server for Eglot and lsp-mode  -*- lexical-binding: t; -*-

;; Load this file (or put it on `load-path' and `require' it) to:
;; - open Dockerfile, *.Dockerfile, Dockerfile.* and Containerfile in `dockerfile-mode' (when installed) or in the
;;   small `idpbuild-dockerfile-mode' below;
;; - start `idpbuild lsp' for them with Eglot (M-x eglot, or `eglot-ensure' from the mode hook) or lsp-mode.
;; Settings are described in protocol/README.md ("Settings").

;;; Code:

(require 'cl-lib)

(defvar eglot-server-programs)
(defvar lsp-language-id-configuration)
(declare-function lsp-register-client "lsp-mode")
(declare-function make-lsp-client "lsp-mode")
(declare-function lsp-stdio-connection "lsp-mode")
(declare-function lsp-activate-on "lsp-mode")

(defgroup idpbuild nil
  "The idpbuild Dockerfile language server."
  :group 'tools)

(defcustom idpbuild-program '("idpbuild" "lsp")
  "The command that starts the language server."
  :type '(repeat string))

(defcustom idpbuild-settings nil
  "Settings sent as initializationOptions.
For example (:ignoredChecks [\"JSONArgsRecommended\"]).  With Eglot,
`eglot-workspace-configuration' (section :idpbuild) can change them later."
  :type 'plist)

(defvar idpbuild-dockerfile-font-lock-keywords
  `((,(concat "^[ \t]*\\(?:ONBUILD[ \t]+\\)?"
              (regexp-opt '("ADD" "ARG" "CMD" "COPY" "ENTRYPOINT" "ENV" "EXPOSE" "FROM" "HEALTHCHECK" "LABEL"
                            "MAINTAINER" "ONBUILD" "RUN" "SHELL" "STOPSIGNAL" "USER" "VOLUME" "WORKDIR")
                          'words))
     . font-lock-keyword-face)
    ("\\$\\(?:{[A-Za-z_][A-Za-z0-9_]*\\|[A-Za-z_][A-Za-z0-9_]*\\)" . font-lock-variable-name-face))
  "Highlighting for `idpbuild-dockerfile-mode'.")

(define-derived-mode idpbuild-dockerfile-mode prog-mode "Dockerfile"
  "A small major mode for Dockerfiles.
Used when `dockerfile-mode' is not installed."
  (modify-syntax-entry ?# "<" idpbuild-dockerfile-mode-syntax-table)
  (modify-syntax-entry ?\n ">" idpbuild-dockerfile-mode-syntax-table)
  (modify-syntax-entry ?' "\"" idpbuild-dockerfile-mode-syntax-table)
  (setq-local comment-start "# ")
  (setq-local comment-start-skip "#+[ \t]*")
  (setq-local font-lock-defaults '(idpbuild-dockerfile-font-lock-keywords nil t)))

(defun idpbuild--major-mode ()
  "The mode for Dockerfiles: `dockerfile-mode' when available."
  (if (fboundp 'dockerfile-mode) 'dockerfile-mode 'idpbuild-dockerfile-mode))

(dolist (pattern '("/Dockerfile\\'" "\\.Dockerfile\\'" "/Dockerfile\\.[^/]*\\'" "/Containerfile\\'"
                   "/Containerfile\\.[^/]*\\'"))
  (add-to-list 'auto-mode-alist (cons pattern (idpbuild--major-mode))))

(defconst idpbuild--modes
  '((dockerfile-mode :language-id "dockerfile")
    (dockerfile-ts-mode :language-id "dockerfile")
    (idpbuild-dockerfile-mode :language-id "dockerfile"))
  "The major modes the server manages, with the language id Eglot sends.")

(with-eval-after-load 'eglot
  ;; Ahead of Eglot's own entry for dockerfile-mode (docker-langserver).
  (add-to-list 'eglot-server-programs
               (cons idpbuild--modes
                     (lambda (&rest _) (append idpbuild-program
                                               (and idpbuild-settings
                                                    (list :initializationOptions idpbuild-settings)))))))


;;; Builds: commands, progress, log

(declare-function eglot-current-server "eglot")
(declare-function eglot--TextDocumentIdentifier "eglot")
(declare-function jsonrpc-async-request "jsonrpc")

(defcustom idpbuild-show-progress t
  "Show build progress in the echo area."
  :type 'boolean)

(defvar idpbuild-last-result nil
  "The last build's result: the server's BuildResponse, or an error (plists).")

(defvar idpbuild-progress-functions nil
  "Functions called with TOKEN and VALUE for each build progress notification.")

(defvar idpbuild-result-functions nil
  "Functions called with RESULT and ERROR (plists, one nil) when a build answers.")

(defvar idpbuild--reporters (make-hash-table :test #'equal)
  "Progress reporters by token.")

(defvar idpbuild--token-count 0)

(defconst idpbuild-log-buffer "*idpbuild build*"
  "The buffer that collects build output (window/logMessage).")

(defun idpbuild--uri ()
  "The current buffer's document URI."
  (plist-get (eglot--TextDocumentIdentifier) :uri))

(defun idpbuild--execute (command &optional argument)
  "Run build COMMAND for the current buffer asynchronously, with a progress token.
ARGUMENT is a plist added to (:uri URI): :imageName, :imageTag, :target, ...
\(protocol/README.md, Commands)."
  (let* ((server (or (eglot-current-server) (user-error "idpbuild: no language server for this buffer (M-x eglot)")))
         (token (format "idpbuild-emacs-%d-%d" (emacs-pid) (cl-incf idpbuild--token-count)))
         (cancel (equal command "idpbuild.cancelBuild"))
         (params (if cancel
                     (list :command command :arguments (vector (idpbuild--uri)))
                   (list :command command :arguments (vector (append (list :uri (idpbuild--uri)) argument))
                         :workDoneToken token))))
    (jsonrpc-async-request
     server :workspace/executeCommand params
     :timeout nil  ; a build takes as long as it takes; cancel it with `idpbuild-cancel-build'
     :success-fn (lambda (result)
                   (unless cancel
                     (setq idpbuild-last-result result)
                     (run-hook-with-args 'idpbuild-result-functions result nil)))
     :error-fn (lambda (error)
                 (setq idpbuild-last-result (list :error error))
                 (run-hook-with-args 'idpbuild-result-functions nil error)
                 (message "idpbuild: %s" (plist-get error :message))))
    token))

(defun idpbuild-build-and-push ()
  "Build and push the Dockerfile in this buffer (the text shown, saved or not)."
  (interactive)
  (idpbuild--execute "idpbuild.buildAndPush"))

(defun idpbuild-build ()
  "Build the Dockerfile in this buffer into the local store (no push)."
  (interactive)
  (idpbuild--execute "idpbuild.build"))

(defun idpbuild-cancel-build ()
  "Cancel the build of the Dockerfile in this buffer."
  (interactive)
  (idpbuild--execute "idpbuild.cancelBuild"))

(defun idpbuild-show-log ()
  "Show the build output."
  (interactive)
  (display-buffer (get-buffer-create idpbuild-log-buffer)))

(defvar idpbuild-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "p") #'idpbuild-build-and-push)
    (define-key map (kbd "b") #'idpbuild-build)
    (define-key map (kbd "c") #'idpbuild-cancel-build)
    (define-key map (kbd "l") #'idpbuild-show-log)
    map)
  "Build commands; bound to C-c C-b in `idpbuild-dockerfile-mode'.")

(define-key idpbuild-dockerfile-mode-map (kbd "C-c C-b") idpbuild-command-map)

(defun idpbuild--progress (token value)
  "Show progress VALUE for TOKEN (only the builds' tokens)."
  (when (and (stringp token) (string-prefix-p "idpbuild-" token))
    (run-hook-with-args 'idpbuild-progress-functions token value)
    (when idpbuild-show-progress
      (let ((kind (plist-get value :kind))
            (text (car (split-string (or (plist-get value :message) "") "\n")))
            (percentage (plist-get value :percentage)))
        (pcase kind
          ("begin" (puthash token (make-progress-reporter (concat "idpbuild: " (plist-get value :title) " ") 0 100)
                            idpbuild--reporters))
          ("report" (let ((reporter (gethash token idpbuild--reporters)))
                      (when reporter (progress-reporter-update reporter (or percentage 0) text))))
          ("end" (let ((reporter (gethash token idpbuild--reporters)))
                   (when reporter (progress-reporter-done reporter))
                   (remhash token idpbuild--reporters)
                   (message "idpbuild: %s" text))))))))

(defun idpbuild--log (message)
  "Append MESSAGE (build output) to the build log buffer."
  (with-current-buffer (get-buffer-create idpbuild-log-buffer)
    (let ((inhibit-read-only t))
      (goto-char (point-max))
      (insert message "\n"))))

(with-eval-after-load 'eglot
  ;; Eglot 1.9 (Debian 12) ignores $/progress; later versions show it themselves.  Either way the build tokens are
  ;; ours, and the :before methods leave Eglot's own handling alone.
  (cl-defmethod eglot-handle-notification :before
    (_server (_method (eql $/progress)) &key token value &allow-other-keys)
    (idpbuild--progress token value))
  (cl-defmethod eglot-handle-notification :before
    (_server (_method (eql window/logMessage)) &key message &allow-other-keys)
    (idpbuild--log message))
  ;; The code actions (M-x eglot-code-actions, "Build and push → …") run asynchronously with progress, instead of
  ;; Eglot's synchronous request (which would time out during a build).
  (cl-defmethod eglot-execute-command (_server (_command (eql idpbuild.buildAndPush)) arguments)
    (idpbuild--execute "idpbuild.buildAndPush" (idpbuild--extra (aref arguments 0))))
  (cl-defmethod eglot-execute-command (_server (_command (eql idpbuild.build)) arguments)
    (idpbuild--execute "idpbuild.build" (idpbuild--extra (aref arguments 0))))
  (cl-defmethod eglot-execute-command (_server (_command (eql idpbuild.cancelBuild)) _arguments)
    (idpbuild--execute "idpbuild.cancelBuild")))

(defun idpbuild--extra (argument)
  "ARGUMENT (a plist) without :uri."
  (let (extra)
    (while argument
      (unless (eq (car argument) :uri) (setq extra (append extra (list (car argument) (cadr argument)))))
      (setq argument (cddr argument)))
    extra))

(with-eval-after-load 'lsp-mode
  (add-to-list 'lsp-language-id-configuration '(idpbuild-dockerfile-mode . "dockerfile"))
  (lsp-register-client
   (make-lsp-client :new-connection (lsp-stdio-connection (lambda () idpbuild-program))
                    :activation-fn (lsp-activate-on "dockerfile")
                    :initialization-options (lambda () idpbuild-settings)
                    :priority 1  ; ahead of lsp-dockerfile's dockerfile-ls
                    :server-id 'idpbuild)))

(provide 'idpbuild)
;;; idpbuild.el ends here
