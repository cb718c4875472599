# Embeds collectors/fingerprint/signatures.json in the library as a C string, so the binary
# carries its signatures (no install path to find at run time). Called with -DIN= -DOUT=.
file(READ ${IN} content)
string(FIND "${content}" ")tlsaudit_sig\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter")
endif()
file(WRITE ${OUT}.tmp "// Generated from ${IN}; do not edit.\nnamespace tlsaudit::collectors::fingerprint {\nextern const char* const kBuiltinSignaturesJson;\nconst char* const kBuiltinSignaturesJson = R\"tlsaudit_sig(${content})tlsaudit_sig\";\n}  // namespace tlsaudit::collectors::fingerprint\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
