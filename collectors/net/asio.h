// The one way Boost.Asio is included in tlsaudit. Boost 1.74's Asio under C++20 with GCC 12 uses
// std::exchange without including <utility>, so it must come first.
#pragma once

// clang-format off
#include <utility>  // must precede boost/asio.hpp
// clang-format on

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
namespace tlsaudit::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
template <typename T>
using awaitable = asio::awaitable<T>;
using asio::use_awaitable;
#endif
}  // namespace tlsaudit::net
