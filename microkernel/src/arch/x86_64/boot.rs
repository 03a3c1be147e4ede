//! From the Multiboot loader to Rust: the Multiboot header, the 32-bit entry, the switch to
//! long mode on temporary page tables, and the jump to the higher half.
//!
//! The temporary tables map the first GiB three times with 2 MiB pages: identity (for the
//! instructions that turn paging on), at the physical window (so early Rust code reads
//! physical memory the same way as later code) and at the kernel's link address.

use core::arch::global_asm;

/// Multiboot flags: align modules to pages, give us the memory map, and load the image by
/// the address fields below (the "a.out kludge"), since QEMU will not load an ELF64 file.
const MULTIBOOT_FLAGS: u32 = (1 << 0) | (1 << 1) | (1 << 16);
const MULTIBOOT_MAGIC: u32 = 0x1BAD_B002;

global_asm!(
    r#"
    .section .multiboot_header, "a"
    .balign 4
multiboot_header:
    .long {magic}
    .long {flags}
    .long -({magic} + {flags})
    .long multiboot_header
    .long __kernel_phys_start
    .long __load_end_phys
    .long __kernel_phys_end
    .long boot_entry32

    .section .boot.text, "ax"
    .code32
    .global boot_entry32
boot_entry32:
    cli
    cld
    movl %eax, %edi
    movl %ebx, %esi
    movl $boot_stack32_top, %esp

    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz no_long_mode

    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4
    movl %eax, boot_pml4 + 256 * 8
    movl $boot_pdpt_high, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4 + 511 * 8
    movl $boot_pd, %eax
    orl $0x3, %eax
    movl %eax, boot_pdpt
    movl %eax, boot_pdpt_high + 510 * 8

    xorl %ecx, %ecx
1:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, boot_pd(, %ecx, 8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $(1 << 8), %eax
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax
    movl %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $boot_entry64_low

no_long_mode:
    movl $no_long_mode_message, %ebx
2:
    movb (%ebx), %al
    testb %al, %al
    jz 3f
    movw $0x3f8, %dx
    outb %al, %dx
    incl %ebx
    jmp 2b
3:
    hlt
    jmp 3b

    .code64
boot_entry64_low:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_entry64, %rax
    jmpq *%rax

    .section .boot.data, "aw"
    .balign 4096
boot_pml4:
    .fill 512, 8, 0
boot_pdpt:
    .fill 512, 8, 0
boot_pdpt_high:
    .fill 512, 8, 0
boot_pd:
    .fill 512, 8, 0
    .fill 1024, 1, 0
boot_stack32_top:
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
boot_gdt_pointer:
    .word boot_gdt_pointer - boot_gdt - 1
    .long boot_gdt
no_long_mode_message:
    .asciz "kernel: this CPU has no long mode; stopping\n"

    .text
    .code64
boot_entry64:
    leaq {stack}+{stack_top_offset}(%rip), %rsp
    xorl %ebp, %ebp
    call {rust_entry}
    ud2
"#,
    magic = const MULTIBOOT_MAGIC,
    flags = const MULTIBOOT_FLAGS,
    stack = sym super::stacks::BOOT_STACK,
    stack_top_offset = const super::stacks::BOOT_STACK_TOP_OFFSET,
    rust_entry = sym super::entry::rust_boot_entry,
    options(att_syntax),
);
