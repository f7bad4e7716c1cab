/* The default seccomp profile, embedded so the launcher needs no file at run time. */
    .section .rodata
    .global sn_default_seccomp_profile
    .type sn_default_seccomp_profile, @object
sn_default_seccomp_profile:
    .incbin "profiles/seccomp.json"
    .byte 0
    .section .note.GNU-stack,"",@progbits
