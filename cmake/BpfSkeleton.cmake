# BPF build rule: <name>.bpf.c -> clang -target bpf (CO-RE) -> bpftool gen
# skeleton -> <name>.skel.h in an INTERFACE library that user space links.
#
# vmlinux.h is generated at build time from the build host's BTF
# (/sys/kernel/btf/vmlinux) unless TAOGATE_VMLINUX_H names a committed one.
# CO-RE relocations make the object portable to other kernels with BTF.
find_program(BPF_CLANG NAMES clang clang-16 clang-14 REQUIRED)
find_program(BPFTOOL bpftool PATHS /usr/sbin /sbin REQUIRED)
set(TAOGATE_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF source for vmlinux.h")
set(TAOGATE_VMLINUX_H "" CACHE FILEPATH "Use this vmlinux.h instead of generating one")

set(BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpfgen)
file(MAKE_DIRECTORY ${BPF_GEN_DIR})
if(TAOGATE_VMLINUX_H)
  configure_file(${TAOGATE_VMLINUX_H} ${BPF_GEN_DIR}/vmlinux.h COPYONLY)
  add_custom_target(taogate_vmlinux_h)
else()
  add_custom_command(
    OUTPUT ${BPF_GEN_DIR}/vmlinux.h
    COMMAND ${BPFTOOL} btf dump file ${TAOGATE_VMLINUX_BTF} format c > ${BPF_GEN_DIR}/vmlinux.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${BPF_GEN_DIR}/vmlinux.h.tmp ${BPF_GEN_DIR}/vmlinux.h
    COMMENT "Generating vmlinux.h from ${TAOGATE_VMLINUX_BTF}"
    VERBATIM)
  add_custom_target(taogate_vmlinux_h DEPENDS ${BPF_GEN_DIR}/vmlinux.h)
endif()

# taogate_bpf_skeleton(TARGET name SOURCE file.bpf.c [DEPENDS headers...])
# Creates INTERFACE library ${name}_skel whose include dir holds ${name}.skel.h.
function(taogate_bpf_skeleton)
  cmake_parse_arguments(A "" "NAME;SOURCE" "DEPENDS" ${ARGN})
  set(obj ${BPF_GEN_DIR}/${A_NAME}.bpf.o)
  set(skel ${BPF_GEN_DIR}/${A_NAME}.skel.h)
  get_filename_component(src ${A_SOURCE} ABSOLUTE)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -mcpu=v3
            -Wall -Werror -Wno-unused-function
            -I${BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf/include
            -c ${src} -o ${obj}
    DEPENDS ${src} ${A_DEPENDS} taogate_vmlinux_h ${BPF_GEN_DIR}/vmlinux.h
    COMMENT "BPF ${A_NAME}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${A_NAME} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${A_NAME}.skel.h"
    VERBATIM)
  add_custom_target(${A_NAME}_skel_gen DEPENDS ${skel})
  add_library(${A_NAME}_skel INTERFACE)
  add_dependencies(${A_NAME}_skel ${A_NAME}_skel_gen)
  target_include_directories(${A_NAME}_skel INTERFACE ${BPF_GEN_DIR} ${CMAKE_SOURCE_DIR}/bpf/include)
  target_link_libraries(${A_NAME}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
